"""The types every channel speaks: one inbound message, one status update, one outbound message.

Adapters turn provider payloads into these and these into provider calls, so nothing above the
channel layer knows what an aiogram ``Update`` or a Twilio form looks like.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ChannelName(StrEnum):
    TELEGRAM = "telegram"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    WEBCHAT = "webchat"


class InboundKind(StrEnum):
    """What the shopper sent; each kind has a defined behaviour in the conversation pipeline."""

    TEXT = "text"
    COMMAND = "command"
    CALLBACK = "callback"
    CONTACT = "contact"
    LOCATION = "location"
    PHOTO = "photo"
    STICKER = "sticker"
    VOICE = "voice"
    MEDIA = "media"
    EDITED = "edited"
    GROUP = "group"
    UNSUPPORTED = "unsupported"


class InboundMessage(BaseModel):
    """One thing a shopper sent, as the pipeline stores it before acknowledging the provider."""

    channel: ChannelName
    provider_message_id: str = Field(description="Unique per channel; retries repeat it")
    address: str = Field(
        description="Where replies go: a chat id, a phone number or a WhatsApp user id"
    )
    sender_id: str = Field(description="The shopper's identity on this channel")
    kind: InboundKind
    text: str | None = None
    sender_name: str | None = None
    contact_phone: str | None = Field(
        default=None, description="A phone number the shopper shared as their own contact"
    )
    media_urls: list[str] = Field(default_factory=list)
    sent_at: datetime | None = Field(
        default=None, description="When the shopper sent it, if the provider says"
    )
    raw: dict[str, Any] = Field(default_factory=dict, description="The payload, for audit")


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


class StatusUpdate(BaseModel):
    """A provider's report on an outbound message (Twilio status callbacks)."""

    channel: ChannelName
    provider_message_id: str
    status: DeliveryStatus
    recipient: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def recipient_unsubscribed(self) -> bool:
        """Twilio error 21610: the recipient replied STOP; treat it as their opt-out."""
        return self.error_code == "21610"


class IgnoredStatus(BaseModel):
    """A provider status that moves nothing: one about a message still arriving to us, or one
    newer than this code (``known`` is False). It is acknowledged, since an error answer would
    only make the provider retry and raise alerts, and it is logged."""

    channel: ChannelName
    provider_message_id: str
    status: str
    known: bool


class ProductCard(BaseModel):
    id: str
    name: str
    price: float | None = None
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    variant: str | None = Field(default=None, description='The size or colour meant: "42 / black"')
    was_price: float | None = Field(default=None, description="The price before a drop")

    @property
    def title(self) -> str:
        return f"{self.name} ({self.variant})" if self.variant else self.name

    @property
    def price_text(self) -> str | None:
        """ "59.00 USD", or "59.00 USD (was 79.00)" after a price drop."""
        if self.price is None:
            return None
        text = f"{self.price:,.2f} {self.currency}" if self.currency else f"{self.price:,.2f}"
        if self.was_price is not None and self.was_price > self.price:
            text += f" (was {self.was_price:,.2f})"
        return text


class WhatsAppTemplateRef(BaseModel):
    """An approved WhatsApp template: Twilio Content SID and its numbered variables."""

    content_sid: str
    variables: dict[str, str] = Field(default_factory=dict)


class OutboundMessage(BaseModel):
    channel: ChannelName
    address: str
    idempotency_key: str
    text: str = ""
    cards: list[ProductCard] = Field(default_factory=list)
    template: WhatsAppTemplateRef | None = None
    footer: str = Field(
        default="",
        description="A line that must go out whole (an SMS opt-out line): channels that trim "
        "text for length trim the text, never this",
    )

    @property
    def full_text(self) -> str:
        """The text with its footer, for channels that never trim."""
        return "\n\n".join(part for part in (self.text.strip(), self.footer.strip()) if part)

    from_person: bool = Field(
        default=False, description="A person in the console wrote it, not the bot"
    )


class SendResult(BaseModel):
    """What came of a send. ``retryable`` failures are retried; ``retry_after`` is the wait the
    provider asked for, in seconds."""

    ok: bool
    provider_message_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    retryable: bool = False
    retry_after: float | None = None

    @property
    def provider_message_id(self) -> str | None:
        return self.provider_message_ids[0] if self.provider_message_ids else None
