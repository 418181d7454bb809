"""Plain text to Telegram HTML: escape what Telegram would parse, respect its length limits."""

from __future__ import annotations

import html

from channels.messages import ProductCard
from channels.text_split import split_text

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def escape(text: str) -> str:
    """Text from the catalog or the agent is data: ``<b>`` in it must show, not render."""
    return html.escape(text, quote=False)


def message_parts(text: str) -> list[str]:
    """Escaped parts, each within Telegram's message limit once escaped."""
    return [part for chunk in split_text(text, MESSAGE_LIMIT) for part in _escaped(chunk)]


def _escaped(chunk: str) -> list[str]:
    # Escaping grows text ("&" is "&amp;"); halve the raw chunk until each half fits, so an
    # entity is never cut in two.
    escaped = escape(chunk)
    if len(escaped) <= MESSAGE_LIMIT:
        return [escaped]
    return [part for half in split_text(chunk, max(len(chunk) // 2, 1)) for part in _escaped(half)]


def card_caption(card: ProductCard) -> str:
    lines = [f"<b>{escape(card.title)}</b>"]
    if (price := card.price_text) is not None:
        lines.append(escape(price))
    caption = "\n".join(lines)
    if len(caption) <= CAPTION_LIMIT:
        return caption
    return f"<b>{escape(card.name[: CAPTION_LIMIT // 2])}…</b>"
