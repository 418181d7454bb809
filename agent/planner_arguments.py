"""Tool arguments from a shopper's words, for the offline planner: prices, sizes, colours,
categories, a percentage, a time, a channel, quiet hours.

Each slot is read only from words that say it: "from 50" is a price only with a currency
("from $50", "from 50 euros"; "shoes from 2019" is not), a size only with a unit or the word
size ("size 42", "EU 42", "in a medium", "32 waist"; "a 4 person tent" is not), a colour
negated when the words say so ("anything but red", "not black"), several colours when named.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from agent.intent_labels import Intent

COLOURS = (
    "black",
    "white",
    "grey",
    "gray",
    "blue",
    "navy",
    "red",
    "green",
    "yellow",
    "brown",
    "beige",
    "olive",
    "orange",
    "pink",
    "purple",
    "indigo",
    "cream",
    "silver",
)
ORDER_ID = re.compile(r"#?\b([A-Za-z]{0,4}-?\d{3,})\b")
_NUMBER = r"(\d+(?:[.,]\d{1,2})?)"
_SYMBOL = r"[$€£]"
_CURRENCY_WORD = r"(?:usd|eur|gbp|dollars?|euros?|pounds?|bucks|quid)\b"
MAX_PRICE = re.compile(
    rf"\b(?:under|below|less than|up to|max(?:imum)?|cheaper than|no more than|at most)\s*"
    rf"{_SYMBOL}?\s*{_NUMBER}",
    re.I,
)
MIN_PRICE = re.compile(
    rf"\b(?:over|above|more than|at least|minimum)\s*{_SYMBOL}?\s*{_NUMBER}|"
    rf"\bfrom\s*(?:{_SYMBOL}\s*{_NUMBER}|{_NUMBER}\s*(?:{_CURRENCY_WORD}|{_SYMBOL}))",
    re.I,
)
BETWEEN_PRICES = re.compile(
    rf"\bbetween\s*{_SYMBOL}?\s*{_NUMBER}\s*(?:and|-|to)\s*{_SYMBOL}?\s*{_NUMBER}", re.I
)
_LETTER_SIZES = {
    "xs": "XS",
    "extra small": "XS",
    "s": "S",
    "small": "S",
    "m": "M",
    "medium": "M",
    "l": "L",
    "large": "L",
    "xl": "XL",
    "x-large": "XL",
    "extra large": "XL",
    "xxl": "XXL",
}
_LETTER = r"(xxl|xl|x-large|extra large|extra small|xs|s|m|l|small|medium|large)"
SIZE_WORD = re.compile(rf"\b(?:size|sz)\s*(?:is\s*)?(\d{{1,2}}(?:[.,]5)?|{_LETTER})\b", re.I)
SIZE_SYSTEM = re.compile(
    r"\b(?:eu|us|uk)\s*(\d{1,2}(?:[.,]5)?)\b|\b(\d{1,2}(?:[.,]5)?)\s*(?:eu|us|uk)\b", re.I
)
SIZE_WAIST = re.compile(r"\b(\d{2})\s*(?:inch )?waist\b", re.I)
SIZE_IN_LETTER = re.compile(
    r"\bin (?:an? )?(xxl|xl|x-large|extra large|extra small|xs|small|medium|large)\b", re.I
)
# Only after products were shown: "in 42?", "and in 44", "do you have it in 43".
SIZE_BARE = re.compile(r"\b(?:in|an?)\s+(\d{2}(?:[.,]5)?)\b(?!\s*(?:minutes?|hours?|days?))", re.I)
CATEGORY = re.compile(
    r"\b(?:in|from) the ([a-z][a-z &-]{1,40}?) (?:category|section|department)\b|"
    r"\bcategory:?\s+([a-z][a-z &>-]{1,40})$",
    re.I,
)
NEGATION = re.compile(
    r"\b(?:not|no|but|except|without|other than|anything but|nothing)\s+(?:in\s+)?(?:the\s+)?$",
    re.I,
)
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent)", re.I)
DEFAULT_DISCOUNT = 10.0
PRICE_TARGET = re.compile(
    rf"\b(?:under|below|less than|drops? (?:to|under|below)|goes down to|at)\s*{_SYMBOL}?\s*"
    rf"{_NUMBER}",
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
    r"\b(?:my (?:shoe |clothing )?size is|i(?:'m| am)(?: a)? size|i wear(?: a)?(?: size)?|"
    r"save my (?:shoe )?size as)\s+(\w{1,6})",
    re.I,
)
INTERESTED = re.compile(
    r"\b(?:interested in|i (?:love|like|am into|'m into))\s+([a-z][a-z &-]{1,40})", re.I
)
REMINDER_HOUR = 10  # "tomorrow" means tomorrow morning, not in exactly 24 hours


def _price(value: str) -> float:
    return float(value.replace(",", "."))


def prices(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    if match := BETWEEN_PRICES.search(text):
        low, high = sorted((_price(match[1]), _price(match[2])))
        return {"min_price": low, "max_price": high}
    if match := MAX_PRICE.search(text):
        found["max_price"] = _price(match[1])
    if match := MIN_PRICE.search(text):
        found["min_price"] = _price(next(g for g in match.groups() if g))
    return found


def size(text: str, *, bare: bool = False) -> str | None:
    """A size said with its unit or the word size; a bare number ("in 42") only when ``bare``
    (products were just shown, so a number can only be one of their sizes)."""
    for pattern in (SIZE_WORD, SIZE_SYSTEM, SIZE_WAIST, SIZE_IN_LETTER):
        if match := pattern.search(text):
            value = next(g for g in match.groups() if g).lower()
            return _LETTER_SIZES.get(value, value.replace(",", ".").upper())
    if bare and (match := SIZE_BARE.search(text)):
        return match[1].replace(",", ".")
    return None


def colours(text: str) -> tuple[list[str], list[str]]:
    """(wanted, unwanted) colours, in the order they were said."""
    wanted: list[str] = []
    unwanted: list[str] = []
    lowered = text.lower()
    for match in re.finditer(r"[a-z]+", lowered):
        word = match[0]
        if word not in COLOURS:
            continue
        colour = "grey" if word == "gray" else word
        negated = NEGATION.search(lowered[max(0, match.start() - 30) : match.start()])
        target = unwanted if negated else wanted
        if colour not in target:
            target.append(colour)
    return wanted, unwanted


def search_arguments(text: str, *, bare_size: bool = False) -> dict[str, Any]:
    args: dict[str, Any] = {"text": text}
    args.update(prices(text))
    if found := size(text, bare=bare_size):
        args["size"] = found
    wanted, unwanted = colours(text)
    if len(wanted) == 1:
        args["colour"] = wanted[0]
    elif wanted:
        args["colours"] = wanted
    if unwanted:
        args["not_colours"] = unwanted
    words = set(re.findall(r"[a-z]+", text.lower()))
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
        return {
            "kind": "price_drop",
            "product_ids": products[:1],
            "below_price": _price(target[1]),
        }
    if RESTOCK.search(lowered):
        if not products:
            return None
        args: dict[str, Any] = {"kind": "back_in_stock", "product_ids": products[:1]}
        if found := size(text):
            args["size"] = found
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


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NAME_ZIP = re.compile(
    r"\b([A-Z][a-z]+)\s+([A-Z][a-z]+)\b.*?\b(\d{5})(?:-\d{4})?\b"
    r"|\b(\d{5})\b.*?\b([A-Z][a-z]+)\s+([A-Z][a-z]+)\b",
    re.S,
)
NOT_NAMES = frozenset({"I", "My", "The", "Hi", "Hello", "Zip", "Name", "Yes", "Order"})
RETURN_WHAT = re.compile(
    r"\b(?:return|send back|refund)\s+(?:the |my |these |those )?([a-z ]{3,40})", re.I
)
SWAP_SIZE = re.compile(
    r"\b(?:for|to|in|into)\s+(?:a |an |size )?(\d{1,2}(?:\.5)?|x{0,2}[sml]|xl|xxl)\b", re.I
)
NEW_ADDRESS = re.compile(r"\b(?:to|is|at)\s*:?\s*(\d+\s+[^\n]{4,200})", re.I)
ACTION_OF = {
    Intent.CANCEL_ORDER: "cancel",
    Intent.RETURN_REFUND: "return",
    Intent.ORDER_CHANGE: "exchange",
    Intent.ADDRESS_CHANGE: "change_address",
}


def verify_arguments(text: str) -> dict[str, Any] | None:
    """An email, or a full name with a zip code, in the shopper's words: proof of identity."""
    if match := EMAIL.search(text):
        return {"email": match.group(0)}
    match = NAME_ZIP.search(text)
    if match is None:
        return None
    first, last, code = match.group(1, 2, 3) if match.group(1) else match.group(5, 6, 4)
    if first in NOT_NAMES or last in NOT_NAMES:
        return None
    return {"first_name": first, "last_name": last, "zip": code}


def change_arguments(text: str, intent: Intent) -> dict[str, Any]:
    """``request_order_change`` arguments for a cancel, return, exchange or address message."""
    args: dict[str, Any] = {"action": ACTION_OF.get(intent, "exchange"), **order_arguments(text)}
    if intent is Intent.RETURN_REFUND and (what := RETURN_WHAT.search(text)):
        words = [w for w in what.group(1).split() if w.lower() not in {"it", "them", "order"}]
        if words and not words[0].isdigit():
            args["items"] = [words[0]]
    if intent is Intent.ORDER_CHANGE and (swap := SWAP_SIZE.search(text)):
        args["size"] = swap.group(1).upper() if swap.group(1).isalpha() else swap.group(1)
    if intent is Intent.ADDRESS_CHANGE and (where := NEW_ADDRESS.search(text)):
        args["address"] = {"address1": where.group(1).strip()}
    return args
