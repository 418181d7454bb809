"""Tool arguments from a shopper's words, for the offline planner: prices, sizes, colours,
categories, a percentage, a time, a channel, quiet hours."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

COLOURS = ("black", "white", "grey", "gray", "blue", "navy", "red", "green", "yellow", "brown")
ORDER_ID = re.compile(r"#?\b([A-Za-z]{0,4}-?\d{3,})\b")
MAX_PRICE = re.compile(
    r"\b(?:under|below|less than|up to|max(?:imum)?|cheaper than)\s*\$?(\d+(?:\.\d+)?)", re.I
)
MIN_PRICE = re.compile(r"\b(?:over|above|more than|at least|from)\s*\$?(\d+(?:\.\d+)?)", re.I)
SIZE = re.compile(r"\bsize\s+([A-Za-z0-9]{1,4})\b", re.I)
CATEGORY = re.compile(
    r"\b(?:in|from) the ([a-z][a-z &-]{1,40}?) (?:category|section|department)\b|"
    r"\bcategory:?\s+([a-z][a-z &>-]{1,40})$",
    re.I,
)
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent)", re.I)
DEFAULT_DISCOUNT = 10.0
PRICE_TARGET = re.compile(
    r"\b(?:under|below|less than|drops? (?:to|under|below)|goes down to|at)\s*\$?(\d+(?:\.\d+)?)",
    re.I,
)
RESTOCK = re.compile(r"\b(back in stock|restock\w*|available again|in stock|is back|are back)\b")
PRONOUN = re.compile(r"\b(it|this|that|them|these|those|one)\b", re.I)
IN_DURATION = re.compile(r"\bin (\d{1,3}|an?|one|two|three) (minute|hour|day|week)s?\b", re.I)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHANNEL_WORDS = {"whatsapp": "whatsapp", "telegram": "telegram", "sms": "sms", "text": "sms"}
CLOCK = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?"
BETWEEN = re.compile(rf"\bbetween {CLOCK} and {CLOCK}", re.I)
AFTER = re.compile(rf"\bafter {CLOCK}", re.I)
BEFORE = re.compile(rf"\bbefore {CLOCK}", re.I)
MY_SIZE = re.compile(
    r"\b(?:my size is|i(?:'m| am)(?: a)? size|i wear(?: a)?(?: size)?)\s+(\w{1,6})", re.I
)
INTERESTED = re.compile(
    r"\b(?:interested in|i (?:love|like|am into|'m into))\s+([a-z][a-z &-]{1,40})", re.I
)
REMINDER_HOUR = 10  # "tomorrow" means tomorrow morning, not in exactly 24 hours


def search_arguments(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {"text": text}
    if match := MAX_PRICE.search(text):
        args["max_price"] = float(match.group(1))
    if match := MIN_PRICE.search(text):
        args["min_price"] = float(match.group(1))
    if match := SIZE.search(text):
        args["size"] = match.group(1)
    words = set(re.findall(r"[a-z]+", text.lower()))
    if colour := next((c for c in COLOURS if c in words), None):
        args["colour"] = "grey" if colour == "gray" else colour
    if "in stock" in text.lower() or "available" in words:
        args["in_stock"] = True
    if match := CATEGORY.search(text):
        args["category"] = (match.group(1) or match.group(2)).strip()
    return args


def order_arguments(text: str) -> dict[str, Any]:
    candidates = [m for m in ORDER_ID.findall(text) if any(ch.isdigit() for ch in m)]
    return {"order_id": candidates[0]} if candidates else {}


def discount_arguments(text: str, products: list[str]) -> dict[str, Any]:
    match = PERCENT.search(text)
    percent = float(match.group(1)) if match else DEFAULT_DISCOUNT
    args: dict[str, Any] = {"percent": percent}
    if products and PRONOUN.search(text):
        args["product_ids"] = products[:1]
    return args


def follow_up_arguments(text: str, products: list[str], now: datetime) -> dict[str, Any] | None:
    """A reminder, a back-in-stock watch or a price alert; None when a watch has no product."""
    lowered = text.lower()
    target = PRICE_TARGET.search(text)
    if target and re.search(r"\b(price|drops?|cheaper|goes down|under|below)\b", lowered):
        if not products:
            return None
        return {"kind": "price_drop", "product_ids": products[:1], "below_price": float(target[1])}
    if RESTOCK.search(lowered):
        if not products:
            return None
        args: dict[str, Any] = {"kind": "back_in_stock", "product_ids": products[:1]}
        if size := SIZE.search(text):
            args["size"] = size.group(1)
        return args
    reminder: dict[str, Any] = {"kind": "reminder", "when": parse_when(lowered, now).isoformat()}
    if products and PRONOUN.search(text):
        reminder["product_ids"] = products[:1]
    return reminder


def parse_when(text: str, now: datetime) -> datetime:
    """A time from everyday words; tomorrow morning when none is given."""
    morning = now.replace(hour=REMINDER_HOUR, minute=0, second=0, microsecond=0)
    if match := IN_DURATION.search(text):
        amount = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}.get(match[1].lower())
        count = amount if amount is not None else int(match[1])
        unit = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}[
            match[2].lower()
        ]
        return now + timedelta(**{unit: count})
    if "tonight" in text or "this evening" in text:
        evening = now.replace(hour=19, minute=0, second=0, microsecond=0)
        return evening if evening > now else now + timedelta(hours=1)
    if "later" in text:
        return now + timedelta(hours=3)
    if "next week" in text:
        return morning + timedelta(days=7)
    for index, day in enumerate(WEEKDAYS):
        if day in text:
            ahead = (index - now.weekday()) % 7 or 7
            return morning + timedelta(days=ahead)
    return morning + timedelta(days=1)


def preference_arguments(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    lowered = text.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    if channel := next((c for word, c in CHANNEL_WORDS.items() if word in words), None):
        args["preferred_channel"] = channel
    if match := BETWEEN.search(text):
        args["quiet_hours_start"] = _clock(match.group(1), match.group(2), match.group(3))
        args["quiet_hours_end"] = _clock(match.group(4), match.group(5), match.group(6))
    elif match := AFTER.search(text):
        args["quiet_hours_start"] = _clock(match.group(1), match.group(2), match.group(3) or "pm")
        args["quiet_hours_end"] = "08:00"
    elif match := BEFORE.search(text):
        args["quiet_hours_start"] = "21:00"
        args["quiet_hours_end"] = _clock(match.group(1), match.group(2), match.group(3) or "am")
    if match := MY_SIZE.search(text):
        args["size"] = match.group(1)
    if match := INTERESTED.search(text):
        args["topics"] = [match.group(1).strip()]
    return args


def _clock(hour: str, minute: str | None, meridiem: str | None) -> str:
    h = int(hour) % 24
    if meridiem and meridiem.lower() == "pm" and h < 12:
        h += 12
    if meridiem and meridiem.lower() == "am" and h == 12:
        h = 0
    return f"{h:02d}:{int(minute or 0):02d}"
