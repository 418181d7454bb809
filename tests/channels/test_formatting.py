"""Per-channel formatting: Telegram escaping and limits, SMS segments, text splitting."""

from __future__ import annotations

from channels.messages import ProductCard
from channels.telegram.format import MESSAGE_LIMIT, message_parts
from channels.text_split import split_text
from channels.twilio.format import sms_body, sms_segments

CARD = ProductCard(
    id="1", name="Trail Runner 2", price=79.5, currency="USD", url="https://s.example/p/1"
)


def test_split_text_prefers_paragraphs_then_words_and_never_exceeds_the_limit() -> None:
    text = "First paragraph here.\n\nSecond one is a little longer than that."
    assert split_text(text, 40) == [
        "First paragraph here.",
        "Second one is a little longer than that.",
    ]
    parts = split_text("x" * 95, 30)
    assert parts == ["x" * 30, "x" * 30, "x" * 30, "x" * 5]
    words = split_text("alpha beta gamma delta epsilon", 12)
    assert all(len(part) <= 12 for part in words)
    assert " ".join(words) == "alpha beta gamma delta epsilon"


def test_telegram_parts_stay_within_the_limit_after_escaping() -> None:
    parts = message_parts("&" * 5000)  # each becomes "&amp;": five times longer
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert "".join(parts) == "&amp;" * 5000


def test_sms_segments_follow_gsm7_and_ucs2_rules() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1  # extension characters count twice: 160 units
    assert sms_segments("é" * 160) == 1  # é is in the GSM-7 basic set
    assert sms_segments("ü" * 70 + "😀") == 2  # an emoji makes it UCS-2; it counts as two units


def test_long_sms_is_trimmed_at_a_word_and_keeps_the_product_link() -> None:
    body = sms_body("word " * 400, [CARD], max_segments=2)
    assert sms_segments(body) <= 2
    assert body.endswith("Trail Runner 2 79.50 USD\nhttps://s.example/p/1")
    assert "…" in body
