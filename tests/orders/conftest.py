"""The channel fixtures (fake Telegram and Twilio, the app wired to them) serve these too."""

from tests.channels.conftest import shop

__all__ = ["shop"]
