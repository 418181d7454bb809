"""Splitting long text into parts at the most natural boundary that fits."""

from __future__ import annotations

_BOUNDARIES = ("\n\n", "\n", ". ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most ``limit`` characters, cut at a paragraph, line, sentence or word end
    where one falls in the second half of the window, else hard at the limit."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for boundary in _BOUNDARIES:
            at = window.rfind(boundary)
            if at >= limit // 2:
                cut = at + (1 if boundary == ". " else 0)
                break
        if cut == -1:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
