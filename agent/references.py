"""What a follow-up refers to: an ordinal, a pronoun, a correction, or a change to the last search.

"the second one", "that one", "no, I meant the blue one", "cheaper?", "in 42?", "show me more",
"anything but red": each is read against the products the shopper saw (``agent.conversation``),
deterministically, for the offline planner and as a hint in the model's prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.conversation import Memory, ShownProduct
from agent.planner_arguments import colours, prices, size

_ORDINAL_WORDS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
}
ORDINAL = re.compile(
    r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b(?!\s+(?:time|order|week))|"
    r"(?:\b(?:number|no\.?|option|item)\s*|#)([1-9])\b|^\s*([1-9])\s*[.!?]*\s*$",
    re.I,
)
NUMBER_WORDS = re.compile(r"\bnumber (one|two|three|four|five)\b", re.I)
POINTER = re.compile(r"\b(it|that( one)?|this( one)?|them|these|those|the same)\b", re.I)
OTHER = re.compile(r"\bthe other( one)?\b", re.I)
CORRECTION = re.compile(
    r"^\s*(no[,.!]?\s+|nope[,.!]?\s+|actually[,]?\s+|sorry[,]?\s+|i meant\s+|"
    r"no[,]? i meant\s+|not that one[,]?\s+)+",
    re.I,
)
CHEAPER = re.compile(
    r"\b(cheaper|less expensive|lower price|more affordable|budget|too (expensive|pricey|much)|"
    r"anything less)\b",
    re.I,
)
PRICIER = re.compile(r"\b(more expensive|pricier|more premium|higher end|fancier)\b", re.I)
MORE = re.compile(
    r"^\s*(show (me )?)?(some )?more\b|\bany ?others?\b|\bother (ones|options)\b|"
    r"\bwhat else\b|\bmore (options|like (these|this))\b|\bnext ones\b|\bdifferent ones\b",
    re.I,
)
STOCK = re.compile(r"\b(in stock|available|availability|have it|got it|come in|comes in)\b", re.I)
ASKS_SIZES = re.compile(r"\bwhat sizes?\b|\bwhich sizes?\b", re.I)
ASKS_COLOURS = re.compile(r"\bwhat colou?rs?\b|\bwhich colou?rs?\b|\bother colou?rs?\b", re.I)
ASKS_PRICE = re.compile(r"\bhow much\b|\bwhat('s| is) the price\b|\bprice of\b", re.I)
IN_STOCK_ONLY = re.compile(r"\bonly (the )?(ones )?in stock\b|\bjust the ones in stock\b", re.I)


@dataclass
class Reference:
    """What the message points at and changes. ``product`` is the product it names (by
    ordinal, pronoun or correction); the rest are changes to the last search."""

    product: ShownProduct | None = None
    by: str = ""  # "ordinal", "pointer", "other", "colour" or ""
    correction: bool = False
    cheaper: bool = False
    pricier: bool = False
    more: bool = False
    size: str | None = None
    colours: list[str] = field(default_factory=list)
    not_colours: list[str] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    stock: bool = False
    in_stock_only: bool = False
    asks: str | None = None  # "sizes", "colours", "price"

    @property
    def changes_search(self) -> bool:
        return bool(
            self.cheaper
            or self.pricier
            or self.more
            or self.colours
            or self.not_colours
            or self.prices
            or self.in_stock_only
            or (self.size and self.product is None)
        )

    @property
    def anything(self) -> bool:
        return self.product is not None or self.changes_search or bool(self.size or self.asks)


def resolve(text: str, memory: Memory) -> Reference:
    shown = memory.shown
    ref = Reference()
    body = text
    if match := CORRECTION.match(text):
        ref.correction = True
        body = text[match.end() :]
    ref.size = size(body, bare=bool(shown))
    ref.colours, ref.not_colours = colours(body)
    ref.prices = prices(body)
    ref.cheaper = bool(CHEAPER.search(body))
    ref.pricier = bool(PRICIER.search(body))
    ref.more = bool(MORE.search(body))
    ref.stock = bool(STOCK.search(body))
    ref.in_stock_only = bool(IN_STOCK_ONLY.search(body))
    if ASKS_SIZES.search(body):
        ref.asks = "sizes"
    elif ASKS_COLOURS.search(body):
        ref.asks = "colours"
    elif ASKS_PRICE.search(body):
        ref.asks = "price"
    if not shown:
        return ref
    if index := _ordinal(body):
        position = index[0]
        if -len(shown) <= position < len(shown):
            ref.product, ref.by = shown[position], "ordinal"
    elif OTHER.search(body) and len(shown) == 2 and memory.selected:
        ref.product = next((p for p in shown if p.id != memory.selected), None)
        ref.by = "other"
    elif ref.correction and ref.colours and not ref.more:
        # "no, I meant the blue one": the shown product that comes in that colour
        coloured = [p for p in shown if set(ref.colours) & set(p.colours)]
        if coloured:
            ref.product, ref.by = coloured[0], "colour"
            ref.colours = []
    elif POINTER.search(body) or ref.asks or (ref.stock and not ref.more):
        chosen = memory.product(memory.selected) or (shown[0] if len(shown) == 1 else None)
        if chosen is not None:
            ref.product, ref.by = chosen, "pointer"
    elif (ref.size or ref.colours) and not ref.more and (len(shown) == 1 or memory.selected):
        # "in 42?" after one product (a cart reminder, the one they picked) is about it.
        chosen = memory.product(memory.selected) or shown[0]
        ref.product, ref.by = chosen, "pointer"
    return ref


def _ordinal(text: str) -> tuple[int] | None:
    if match := ORDINAL.search(text):
        if match[1]:
            return (_ORDINAL_WORDS[match[1].lower()],)
        return (int(match[2] or match[3]) - 1,)
    if match := NUMBER_WORDS.search(text):
        return (["one", "two", "three", "four", "five"].index(match[1].lower()),)
    return None
