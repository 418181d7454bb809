"""The offline planner's replies, written from one tool result each.

Every sentence comes from the tool's fields, never from free text inside them: product names are
the only catalog text repeated, and they are shown as names, never acted on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def unquote(name: str) -> str:
    """A product name without the quotes search results carry it in (see search_products)."""
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


def _day(value: str | None) -> str:
    if not value:
        return "soon"
    return datetime.fromisoformat(value).strftime("%a %d %b, %H:%M UTC")


def _search(data: dict[str, Any]) -> str:
    products = data.get("products", [])
    if not products:
        return "I couldn't find a match. Could you tell me a bit more about what you need?"
    lines = [
        f"{i}. {unquote(p['name'])}: {p['price']:.2f} {p['currency']}"
        for i, p in enumerate(products, 1)
    ]
    return "Here is what I found:\n" + "\n".join(lines)


def _orders(data: dict[str, Any]) -> str:
    orders = data.get("orders", [])
    if not orders:
        return "I couldn't find that order on your account."
    return "\n".join(
        f"Order {o['order_id']} from {o['placed_at'][:10]} is {o['status']}." for o in orders
    )


def _profile(data: dict[str, Any]) -> str:
    cart = data.get("open_cart", [])
    if not cart:
        return "Your cart is empty."
    items = ", ".join(f"{line['quantity']} x {line['product_id']}" for line in cart)
    return f"In your cart: {items}."


def _offer(data: dict[str, Any]) -> str:
    status = data.get("status")
    if status == "granted":
        until = data["expires_at"][:10] if data.get("expires_at") else "a week"
        return f"Done! Use code {data['code']} for {data['percent']:g}% off, valid until {until}."
    if status == "rejected":
        return "Sorry, my colleague couldn't approve that discount this time."
    if any(r.startswith("full_price_buyer") for r in data.get("reasons", [])):
        return "Sorry, I don't have a discount for you on this one."
    return "Sorry, that's more than I'm allowed to offer."


def _follow_up(data: dict[str, Any]) -> str:
    status = data.get("status")
    if status == "scheduled":
        return f"Sure, I'll remind you on {_day(data.get('fire_at'))}."
    if status == "watching":
        what = "it's back in stock" if data.get("kind") == "back_in_stock" else "the price drops"
        return f"Sure, I'll message you when {what}."
    return f"Sorry, I can't set that up: {data.get('reason') or 'it is not possible'}."


def _preferences(data: dict[str, Any]) -> str:
    saved = data.get("saved") or {}
    if not saved:
        return "Tell me what you'd like to change: your channel, quiet hours or your size."
    parts = []
    if channel := saved.get("preferred_channel"):
        parts.append(f"I'll use {channel} when I can")
    if quiet := saved.get("quiet_hours"):
        parts.append(f"no messages between {quiet['start']} and {quiet['end']}")
    if size := saved.get("size"):
        parts.append(f"your size is {size}")
    if topics := saved.get("topics"):
        parts.append(f"you like {', '.join(topics)}")
    return "Noted: " + "; ".join(parts) + "."


def _handoff(data: dict[str, Any]) -> str:
    if data.get("handed_off"):
        return "I've asked a colleague to join. They'll reply here shortly."
    return "I couldn't reach a colleague right now. Please try again in a moment."


WRITERS = {
    "search_products": _search,
    "get_order_status": _orders,
    "get_profile": _profile,
    "offer_discount": _offer,
    "schedule_follow_up": _follow_up,
    "update_preferences": _preferences,
    "handoff_to_human": _handoff,
}


def answer(tool_name: str, content: str) -> str:
    """The reply written from one tool result."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict) or "error" in data:
        return "Sorry, I couldn't do that. Could you say it another way?"
    writer = WRITERS.get(tool_name)
    return writer(data) if writer else "Done."
