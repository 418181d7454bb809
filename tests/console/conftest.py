"""The console tests use the channel fixtures (fake Telegram and Twilio)."""

from tests.channels.conftest import shop

__all__ = ["shop"]
