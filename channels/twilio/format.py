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
    price = f" {card.price_text}" if card.price_text else ""
    return f"{card.title}{price}" + (f"\n{card.url}" if card.url else "")


def sms_body(text: str, cards: list[ProductCard], max_segments: int = 4, footer: str = "") -> str:
    """One SMS body: the text, a line and a link per product, then the footer (an opt-out
    line), within ``max_segments``. Only the text is trimmed: links and the footer are what
    the shopper acts on and what carriers require."""
    links = "\n\n".join(_card_line(card) for card in cards)

    def body(text: str) -> str:
        return "\n\n".join(part for part in (text.strip(), links, footer.strip()) if part)

    whole = body(text)
    if sms_segments(whole) <= max_segments:
        return whole
    words = text.split()
    while words:
        words.pop()
        trimmed = body(" ".join(words) + "…")
        if sms_segments(trimmed) <= max_segments:
            return trimmed
    return body("")


def whatsapp_bold(text: str) -> str:
    return f"*{text}*" if text.strip() else text


def whatsapp_card_body(card: ProductCard) -> str:
    lines = [whatsapp_bold(card.title)]
    if card.price_text:
        lines.append(card.price_text)
    if card.url:
        lines.append(card.url)
    return "\n".join(lines)


def whatsapp_text_parts(text: str) -> list[str]:
    return split_text(text, WHATSAPP_BODY_LIMIT)
