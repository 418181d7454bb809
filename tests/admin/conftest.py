"""The admin tests use the channel fixtures (fake Telegram and Twilio) for conversations."""

from tests.channels.conftest import shop

__all__ = ["shop"]
