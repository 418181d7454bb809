"""Twilio webhook forms to ``InboundMessage`` or ``StatusUpdate``.

Twilio posts inbound messages and status callbacks as forms with the same field names; an
inbound message says ``SmsStatus=received``, a status callback carries ``MessageStatus``.
WhatsApp addresses come as ``whatsapp:+15551234567``; the phone number is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.messages import (
    ChannelName,
    DeliveryStatus,
    InboundKind,
    InboundMessage,
    StatusUpdate,
)
from channels.twilio.format import WHATSAPP_PREFIX

_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "canceled": DeliveryStatus.FAILED,
}


class TwilioPayloadError(ValueError):
    """The form is not a Twilio message or status callback; the text says what is missing."""


def strip_whatsapp(address: str) -> str:
    return address.removeprefix(WHATSAPP_PREFIX)


def parse_twilio_form(
    channel: ChannelName, form: Mapping[str, str]
) -> InboundMessage | StatusUpdate:
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid:
        raise TwilioPayloadError("MessageSid is missing")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if status and status != "received":
        if status not in _STATUSES:
            raise TwilioPayloadError(f"unknown MessageStatus {status!r}")
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
    phone = strip_whatsapp(sender)
    media = [form[f"MediaUrl{i}"] for i in range(_media_count(form)) if form.get(f"MediaUrl{i}")]
    text = form.get("Body") or form.get("ButtonText") or None
    return InboundMessage(
        channel=channel,
        provider_message_id=sid,
        address=phone,
        sender_id=phone,
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
