"""Twilio webhook forms to ``InboundMessage``, ``StatusUpdate`` or ``IgnoredStatus``.

Twilio posts inbound messages and status callbacks as forms with the same field names; an
inbound message says ``SmsStatus=received``, a status callback carries ``MessageStatus``.
WhatsApp addresses come as ``whatsapp:`` and the sender's phone (``whatsapp:+15551234567``), or,
for a WhatsApp user who hides their number behind a username, WhatsApp's business-scoped user id
(``whatsapp:US.13491208655302741918``). Either is the address replies go back to, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.messages import (
    ChannelName,
    DeliveryStatus,
    IgnoredStatus,
    InboundKind,
    InboundMessage,
    StatusUpdate,
)
from channels.twilio.format import WHATSAPP_PREFIX

# Every status Twilio documents for an outgoing Message resource, as what it means to us.
_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,  # a Messaging Service is choosing the sender
    "scheduled": DeliveryStatus.QUEUED,  # a Messaging Service sends it at a set time
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    # Sent in several parts, some confirmed delivered and some not: it reached the shopper's
    # handset, so the address works and a resend would repeat what arrived. It ranks with
    # delivered, so a later read or undelivered still moves it; an ErrorCode is kept.
    "partially_delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,  # a scheduled message called off: it will never go
}
# The statuses of a message coming to us: ``received`` is an inbound message; ``receiving`` is
# Twilio still taking one in, and its ``received`` webhook follows.
_RECEIVED = "received"
_INBOUND_STATUSES = frozenset({"receiving", _RECEIVED})


class TwilioPayloadError(ValueError):
    """The form is not a Twilio message or status callback; the text says what is missing."""


def strip_whatsapp(address: str) -> str:
    return address.removeprefix(WHATSAPP_PREFIX)


def parse_twilio_form(
    channel: ChannelName, form: Mapping[str, str]
) -> InboundMessage | StatusUpdate | IgnoredStatus:
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid:
        raise TwilioPayloadError("MessageSid is missing")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if status and status != _RECEIVED:
        if status not in _STATUSES:
            return IgnoredStatus(
                channel=channel,
                provider_message_id=sid,
                status=status[:64],
                known=status in _INBOUND_STATUSES,
            )
        return StatusUpdate(
            channel=channel,
            provider_message_id=sid,
            status=_STATUSES[status],
            recipient=strip_whatsapp(form["To"]) if form.get("To") else None,
            error_code=form.get("ErrorCode") or None,
            error_message=form.get("ErrorMessage") or None,
        )
    sender = form.get("From")
    if not sender:
        raise TwilioPayloadError("From is missing")
    address = strip_whatsapp(sender)
    media = [form[f"MediaUrl{i}"] for i in range(_media_count(form)) if form.get(f"MediaUrl{i}")]
    text = form.get("Body") or form.get("ButtonText") or None
    return InboundMessage(
        channel=channel,
        provider_message_id=sid,
        address=address,
        sender_id=address,
        kind=_kind(form, text),
        text=text,
        sender_name=form.get("ProfileName") or None,
        media_urls=media,
        raw=dict(form),
    )


def _media_count(form: Mapping[str, str]) -> int:
    try:
        return max(0, min(int(form.get("NumMedia") or 0), 10))
    except ValueError:
        return 0


def _kind(form: Mapping[str, str], text: str | None) -> InboundKind:
    if text and text.strip():
        return InboundKind.TEXT
    if form.get("Latitude") and form.get("Longitude"):
        return InboundKind.LOCATION
    if _media_count(form):
        content_type = (form.get("MediaContentType0") or "").lower()
        if content_type.startswith("image/"):
            return InboundKind.PHOTO
        if content_type.startswith("audio/"):
            return InboundKind.VOICE
        return InboundKind.MEDIA
    return InboundKind.UNSUPPORTED
