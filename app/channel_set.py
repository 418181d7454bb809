"""The channels this deployment has credentials for, built from settings.

A channel without credentials is simply off: no adapter, and its webhook answers 404 saying
which settings are missing. Telegram needs its webhook secret too: without it anyone could post
updates in a shopper's name. Web chat needs no credentials: it is on unless switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.settings import Settings
from channels.adapter import ChannelAdapter
from channels.messages import ChannelName
from channels.telegram.inbound import TelegramUpdateParser
from channels.telegram.sender import TelegramChannel, create_bot
from channels.twilio.sender import TwilioSmsChannel, TwilioWhatsAppChannel, create_twilio_client
from channels.twilio.signature import TwilioSignatureVerifier
from profile_store.models import Channel

WEBHOOK_PATHS = {
    ChannelName.TELEGRAM: "/webhooks/telegram",
    ChannelName.SMS: "/webhooks/twilio/sms",
    ChannelName.WHATSAPP: "/webhooks/twilio/whatsapp",
}


@dataclass
class ChannelSet:
    adapters: dict[ChannelName, ChannelAdapter] = field(default_factory=dict)
    missing: dict[ChannelName, str] = field(default_factory=dict)
    telegram_parser: TelegramUpdateParser | None = None
    telegram_secret: str | None = None
    twilio_verifier: TwilioSignatureVerifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings, webchat: ChannelAdapter | None = None) -> ChannelSet:
        """Build the adapters; call inside the running event loop (clients open sessions).
        ``webchat`` is the app's own web chat adapter, on unless switched off."""
        channels = cls()
        if settings.webchat_enabled and webchat is not None:
            channels.adapters[ChannelName.WEBCHAT] = webchat
        else:
            channels.missing[ChannelName.WEBCHAT] = "set CHATCOMMERCE_WEBCHAT_ENABLED=true"
        if settings.telegram_configured:
            assert settings.telegram_bot_token and settings.telegram_webhook_secret
            bot = create_bot(
                settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url
            )
            channels.adapters[ChannelName.TELEGRAM] = TelegramChannel(bot)
            channels.telegram_parser = TelegramUpdateParser(bot)
            channels.telegram_secret = settings.telegram_webhook_secret.get_secret_value()
        else:
            channels.missing[ChannelName.TELEGRAM] = (
                "set CHATCOMMERCE_TELEGRAM_BOT_TOKEN and CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET"
            )
        senders = {
            ChannelName.SMS: ("CHATCOMMERCE_TWILIO_SMS_FROM", settings.twilio_sms_from),
            ChannelName.WHATSAPP: (
                "CHATCOMMERCE_TWILIO_WHATSAPP_FROM",
                settings.twilio_whatsapp_from,
            ),
        }
        if not settings.twilio_configured:
            for channel in senders:
                channels.missing[channel] = (
                    "set CHATCOMMERCE_TWILIO_ACCOUNT_SID and CHATCOMMERCE_TWILIO_AUTH_TOKEN"
                )
            return channels
        for channel, (name, sender) in senders.items():
            if not sender:
                channels.missing[channel] = f"set {name}"
        if all(channel in channels.missing for channel in senders):
            return channels
        assert settings.twilio_account_sid and settings.twilio_auth_token
        token = settings.twilio_auth_token.get_secret_value()
        channels.twilio_verifier = TwilioSignatureVerifier(token, settings.public_url)
        client = create_twilio_client(settings.twilio_account_sid, token, settings.twilio_api_url)
        base = settings.public_url.rstrip("/")
        for channel, (_, sender) in senders.items():
            if not sender:
                continue
            callback = base + WEBHOOK_PATHS[channel]
            if channel is ChannelName.SMS:
                channels.adapters[channel] = TwilioSmsChannel(
                    client, sender, callback, settings.sms_max_segments
                )
            else:
                channels.adapters[channel] = TwilioWhatsAppChannel(client, sender, callback)
        return channels

    @property
    def available(self) -> frozenset[Channel]:
        """The channels messages can be sent on, as the policy engine names them."""
        return frozenset(Channel(name.value) for name in self.adapters)

    async def close(self) -> None:
        closed: set[int] = set()
        for adapter in self.adapters.values():
            # SMS and WhatsApp share one twilio client; close its session once.
            key = id(getattr(adapter, "client", adapter))
            if key not in closed:
                closed.add(key)
                await adapter.close()
