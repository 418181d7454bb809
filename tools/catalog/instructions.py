"""Catalog text that reads like an instruction to an assistant, flagged at import.

The agent never obeys catalog text (tools quote it as data, the reply guard cleans it), but a
product whose name or description talks to "the assistant", orders a tool call or carries a
promo code is most likely a poisoning attempt or a copy-paste accident: the marketer should
see it. Flagging changes nothing about how the product is stored or found.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from tools.catalog.schema import Product

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "tells the assistant to ignore its instructions",
        re.compile(
            r"\b(ignore|disregard|forget|override)\b[^.]{0,40}\b(instructions?|rules|prompt)\b",
            re.I,
        ),
    ),
    (
        "speaks as the system or the assistant",
        re.compile(r"(^|[\s\[(<])(system|assistant|developer)\s*[:>\]]", re.I),
    ),
    (
        "names one of the agent's tools",
        re.compile(
            r"\b(offer_discount|handoff_to_human|search_products|get_order_status|get_profile|"
            r"schedule_follow_up|update_preferences|check_eligibility)\b|\bcall\s+\w+\s*\(",
            re.I,
        ),
    ),
    (
        "tells the assistant what to say or give",
        re.compile(
            r"\b(you (must|should|will) (now )?|always |please )(say|tell|reply|respond|give|"
            r"offer|grant|send)\b|\b(say|tell the (customer|shopper|user))\b[^.]{0,30}\d+\s*%",
            re.I,
        ),
    ),
    (
        "carries a discount code",
        re.compile(
            r"\b(promo|discount|coupon|voucher)\s*code\b|\bcode\s*[:=]?\s*[A-Z0-9]{4,}\b|"
            r"\b(FREE|SAVE|PROMO|VIP)\d{1,3}\b"
        ),
    ),
    (
        "carries contact details",
        re.compile(r"\+\d[\d\s().-]{6,}\d|\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b"),
    ),
]


class ProductFlag(BaseModel):
    product_id: str
    reasons: list[str]


def instruction_flags(product: Product) -> ProductFlag | None:
    """Why this product's text looks like an instruction, or None."""
    text = " ".join([product.name, product.description, *product.tags])
    reasons = [reason for reason, pattern in PATTERNS if pattern.search(text)]
    return ProductFlag(product_id=product.id, reasons=reasons) if reasons else None
