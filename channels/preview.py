"""What a message looks like on a channel, part by part, without sending it (the marketer's
preview): the same formatting the adapters apply."""

from __future__ import annotations

from channels.messages import ChannelName, OutboundMessage
from channels.telegram.format import card_caption, message_parts
from channels.twilio.format import sms_body, sms_segments, whatsapp_card_body, whatsapp_text_parts


def formatted_parts(message: OutboundMessage, sms_max_segments: int = 4) -> list[str]:
    """Each provider message the adapter would send: one SMS body, WhatsApp texts and one per
    card, Telegram HTML texts and one caption per card."""
    if message.channel is ChannelName.SMS:
        return [sms_body(message.text, message.cards, sms_max_segments, message.footer)]
    if message.channel is ChannelName.WHATSAPP:
        texts = whatsapp_text_parts(message.full_text)
        return [*texts, *(whatsapp_card_body(card) for card in message.cards)]
    return [*message_parts(message.full_text), *(card_caption(card) for card in message.cards)]


def sms_segment_count(body: str) -> int:
    return sms_segments(body)
