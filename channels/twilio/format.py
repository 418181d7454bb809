"""Message bodies for SMS (plain text, within a segment budget) and WhatsApp (its own markup).

An SMS segment holds 153 GSM-7 characters or 67 UCS-2 ones once concatenated (160/70 alone); a
single emoji switches the whole message to UCS-2. Long text is trimmed at a word boundary so
the product links, which are what the shopper acts on, always fit.
"""

from __future__ import annotations

from channels.messages import ProductCard
from channels.text_split import split_text

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
WHATSAPP_BODY_LIMIT = 1600
WHATSAPP_PREFIX = "whatsapp:"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def sms_segments(text: str) -> int:
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def _card_line(card: ProductCard) -> str:
    price = f" {card.price:,.2f} {card.currency or ''}".rstrip() if card.price is not None else ""
    return f"{card.name}{price}" + (f"\n{card.url}" if card.url else "")


def sms_body(text: str, cards: list[ProductCard], max_segments: int = 4) -> str:
    """One SMS body: the text, then a line and a link per product, within ``max_segments``."""
    links = "\n\n".join(_card_line(card) for card in cards)
    body = "\n\n".join(part for part in (text.strip(), links) if part)
    if sms_segments(body) <= max_segments:
        return body
    words = text.split()
    while words:
        words.pop()
        trimmed = " ".join(words) + "…"
        body = "\n\n".join(part for part in (trimmed, links) if part)
        if sms_segments(body) <= max_segments:
            return body
    return links


def whatsapp_bold(text: str) -> str:
    return f"*{text}*" if text.strip() else text


def whatsapp_card_body(card: ProductCard) -> str:
    lines = [whatsapp_bold(card.name)]
    if card.price is not None:
        lines.append(f"{card.price:,.2f} {card.currency or ''}".rstrip())
    if card.url:
        lines.append(card.url)
    return "\n".join(lines)


def whatsapp_text_parts(text: str) -> list[str]:
    return split_text(text, WHATSAPP_BODY_LIMIT)
