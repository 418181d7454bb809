"""The offline planner's replies: fixed sentences, and the answer written from one tool result.

Every sentence comes from the tool's fields, never from free text inside them: product names are
the only catalog text repeated, and they are shown as names, never acted on. A reply that asks
a question ("shall I ask a colleague?", "shall I tell you when it's back?") carries what "yes"
will do as a ``Pending``, which the graph keeps for the next turn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.conversation import Memory, Pending, ShownProduct, unquote
from tools.agent_tools.profile import ShopperFacts

__all__ = ["answer", "unquote"]

GREETING = "Hi! I can help you find products, check an order, or look at your cart."
HELP = (
    'Ask me for a product in your own words ("waterproof running shoes under 80 in size 42"), '
    "about an order, for a reminder, or to talk to a person."
)
THANKS = "You're welcome! Anything else I can help with?"
UNAVAILABLE = "I can't do that here, but I'm happy to help you find a product."
NEED_PRODUCT = "Which product do you mean? Search for it first and I'll keep an eye on it."
WHICH_PRODUCT = "Which product do you mean? Tell me what you're looking for and I'll find it."
OUT_OF_SCOPE = (
    "I can only help with shopping here: products, your orders, reminders and offers. "
    "What are you looking for?"
)
NOT_SURE = "Sorry, I didn't quite get that. Are you looking for a product, or is it about an order?"
NEVER_MIND = "OK, forget that. What else can I do for you?"
ANYTHING_ELSE = "OK! Anything else I can help with?"
STAYING = "OK, I'll stay with you. What else can I help with?"
CONFIRM_HANDOFF = "Would you like me to bring in a colleague from our team?"
OFFER_PERSON = "Shall I ask a colleague to help?"


def greeting(first_name: str | None) -> str:
    return GREETING if not first_name else GREETING.replace("Hi!", f"Hi {first_name}!", 1)


def no_tool(topic: str) -> str:
    return f"I can't help with {topic} here, but a colleague can. {OFFER_PERSON}"


def details(product: ShownProduct, asks: str | None) -> str:
    name = product.name or product.id
    price = _price(product)
    if asks == "sizes":
        sizes = ", ".join(product.sizes) or "one size"
        return f"{name} comes in: {sizes}."
    if asks == "colours":
        colours = ", ".join(product.colours) or "one colour"
        return f"{name} comes in: {colours}."
    if asks == "price":
        return f"{name} is {price}."
    parts = [f"{name}: {price}"]
    if product.colours:
        parts.append(f"colours {', '.join(product.colours)}")
    if product.sizes:
        parts.append(f"sizes {', '.join(product.sizes)}")
    stock = "in stock" if product.in_stock else "out of stock right now"
    return "; ".join(parts) + f"; {stock}. Want a reminder, or shall I look for similar ones?"


def from_facts(text: str, facts: ShopperFacts) -> str | None:
    """ "What's in my cart?", "the usual size?", "my last order?": answered from the profile
    summary the turn already carries; None when the tool should look."""
    lowered = text.lower()
    if re.search(r"\b(cart|basket|bag)\b", lowered):
        if not facts.open_cart:
            return "Your cart is empty."
        items = ", ".join(f"{i.quantity} x {i.name or i.product_id}" for i in facts.open_cart)
        return f"In your cart: {items}."
    if re.search(r"\bsize\b", lowered):
        size = facts.preferences.get("size")
        if size:
            return f"Your usual size is {size}."
        return "I don't have your size yet. Tell me (\"my size is 42\") and I'll remember it."
    if re.search(r"\b(last|latest|recent) (order|purchase)|\blast time\b", lowered):
        order = facts.last_order
        if order is None:
            return "I can't see any orders on your account yet."
        return (
            f"Your last order, {order.order_id} from {order.placed_at:%Y-%m-%d}, is {order.status}."
        )
    if re.search(r"\b(tier|level|member|status)\b", lowered) and facts.loyalty_tier:
        return f"You're a {facts.loyalty_tier} member."
    if re.search(r"\b(looked at|viewed|looking at|browsed)\b", lowered):
        if not facts.recent_views:
            return "I can't see anything you looked at recently."
        seen = ", ".join(i.name or i.product_id for i in facts.recent_views)
        return f"You recently looked at: {seen}."
    return None


@dataclass(frozen=True)
class Written:
    text: str
    pending: Pending | None = None
    selected: str | None = None


def _price(p: ShownProduct | dict[str, Any]) -> str:
    price = p.price if isinstance(p, ShownProduct) else p.get("price")
    currency = p.currency if isinstance(p, ShownProduct) else p.get("currency")
    return f"{float(price):.2f} {currency}" if price is not None else "price on request"


def _day(value: str | None) -> str:
    if not value:
        return "soon"
    return datetime.fromisoformat(value).strftime("%a %d %b, %H:%M UTC")


def _search(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    products = [p for p in data.get("products", []) if isinstance(p, dict)]
    kind = note.get("kind")
    if kind == "check":
        return _check(products, data, note)
    if kind in ("details", "show") and products:
        first = products[0]
        lead = "Here it is" if kind == "show" else unquote(first["name"])
        text = f"{lead}: {unquote(first['name'])}, {_price(first)}."
        if first.get("url"):
            text += " You can order it from the link."
        return Written(text, selected=str(first["id"]))
    if not products:
        return _nothing(data, note)
    lines = [f"{i}. {unquote(p['name'])}: {_price(p)}" for i, p in enumerate(products, 1)]
    lead = "Here is what I found:" if kind != "refine" else "Here are some others:"
    return Written(lead + "\n" + "\n".join(lines))


def _check(products: list[dict[str, Any]], data: dict[str, Any], note: dict[str, Any]) -> Written:
    missing = data.get("no_match") if isinstance(data.get("no_match"), dict) else {}
    known = (missing or {}).get("out_of_stock") or {}
    name = note.get("name") or (products[0]["name"] if products else None) or known.get("name")
    name = unquote(str(name or note.get("product_id") or "It"))
    size, colour = note.get("size"), note.get("colour")
    what = " ".join(part for part in (f"size {size}" if size else "", colour or "") if part)
    product_id = str(note.get("product_id") or "")
    if products:
        where = f" in {what}" if what else ""
        stock = " and it's in stock" if note.get("in_stock") else ""
        return Written(f"Yes, {name} comes{where}{stock}.", selected=product_id or None)
    if note.get("in_stock"):
        pending = Pending(kind="watch", product_ids=[product_id], size=size)
        return Written(
            f"{name} isn't in stock{f' in {what}' if what else ''} right now. "
            "Shall I tell you when it's back?",
            pending=pending,
            selected=product_id or None,
        )
    return Written(f"Sorry, {name} doesn't come in {what or 'that'}.", selected=product_id or None)


def _nothing(data: dict[str, Any], note: dict[str, Any]) -> Written:
    if note.get("kind") == "refine":
        return Written("I couldn't find any others like that. Want me to look for something else?")
    missing = data.get("no_match")
    if isinstance(missing, dict):
        wanted = missing.get("query") or "that"
        text = f'Sorry, we don\'t have "{wanted}".'
        watch = missing.get("out_of_stock")
        if isinstance(watch, dict) and watch.get("id"):
            name = unquote(str(watch.get("name") or watch["id"]))
            return Written(
                f"{name} is out of stock right now. Shall I tell you when it's back?",
                pending=Pending(
                    kind="watch", product_ids=[str(watch["id"])], size=note.get("size")
                ),
            )
        if missing.get("nearest_category"):
            text += f" The closest we have is {missing['nearest_category']}."
        elif missing.get("departments"):
            text += f" We sell {', '.join(missing['departments'])}."
        return Written(text + " Can I help you find something there?")
    return Written("I couldn't find a match. Could you tell me a bit more about what you need?")


VERIFY_FIRST = (
    "Before I look at orders I need to confirm it's you: what's the email address on the "
    "order, or your full name and the zip code it ships to?"
)


def _tracking(order: dict[str, Any]) -> str:
    parts = []
    for shipment in order.get("shipments", []):
        bits = [shipment.get("carrier"), shipment.get("tracking_number")]
        line = " ".join(str(b) for b in bits if b)
        if shipment.get("tracking_url"):
            line = f"{line} {shipment['tracking_url']}".strip()
        if line:
            parts.append(line)
    return f" Tracking: {'; '.join(parts)}." if parts else ""


def _orders(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    if data.get("needs_verification"):
        return Written(VERIFY_FIRST, pending=Pending(kind="verify"))
    orders = data.get("orders", [])
    topic = note.get("topic")
    if not orders:
        text = "I couldn't find that order on your account."
    else:
        text = "\n".join(
            f"Order {o['order_id']} from {o['placed_at'][:10]} is "
            f"{str(o['status']).replace('_', ' ')}.{_tracking(o)}"
            for o in orders
        )
    if not topic:
        return Written(text)
    order = orders[0]["order_id"] if orders else None
    reason = f"{topic}{f' for order {order}' if order else ''}"
    return Written(
        f"{text}\nI can't help with {topic} myself yet, but a colleague can. {OFFER_PERSON}",
        pending=Pending(kind="handoff", reason=reason),
    )


def _profile(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    cart = data.get("open_cart", [])
    if not cart:
        return Written("Your cart is empty.")
    items = ", ".join(f"{line['quantity']} x {line['product_id']}" for line in cart)
    return Written(f"In your cart: {items}.")


def _offer(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    status = data.get("status")
    if status == "granted":
        until = data["expires_at"][:10] if data.get("expires_at") else "a week"
        if data.get("existing"):
            return Written(
                f"You already have code {data['code']} for {data['percent']:g}% off, "
                f"valid until {until}."
            )
        return Written(
            f"Done! Use code {data['code']} for {data['percent']:g}% off, valid until {until}."
        )
    if status == "rejected":
        return Written("Sorry, my colleague couldn't approve that discount this time.")
    reasons = data.get("reasons", [])
    if any(r.startswith("recently_purchased") for r in reasons):
        return Written("You bought that recently, so I can't offer a discount on it.")
    if any(r.startswith("full_price_buyer") for r in reasons):
        return Written("Sorry, I don't have a discount for you on this one.")
    return Written("Sorry, that's more than I'm allowed to offer.")


def _follow_up(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    status = data.get("status")
    if status == "scheduled":
        return Written(f"Sure, I'll remind you on {_day(data.get('fire_at'))}.")
    if status == "watching":
        what = "it's back in stock" if data.get("kind") == "back_in_stock" else "the price drops"
        return Written(f"Sure, I'll message you when {what}.")
    return Written(f"Sorry, I can't set that up: {data.get('reason') or 'it is not possible'}.")


def _preferences(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    saved = data.get("saved") or {}
    if not saved:
        return Written("Tell me what you'd like to change: your channel, quiet hours or your size.")
    parts = []
    if channel := saved.get("preferred_channel"):
        parts.append(f"I'll use {channel} when I can")
    if quiet := saved.get("quiet_hours"):
        parts.append(f"no messages between {quiet['start']} and {quiet['end']}")
    if size := saved.get("size"):
        parts.append(f"your size is {size}")
    if topics := saved.get("topics"):
        parts.append(f"you like {', '.join(topics)}")
    return Written("Noted: " + "; ".join(parts) + ".")


def _handoff(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    if data.get("handed_off"):
        return Written(
            "I've asked a colleague to join and passed on what we talked about. "
            "They'll reply here shortly."
        )
    if data.get("needs_confirmation"):
        return Written(CONFIRM_HANDOFF, pending=Pending(kind="handoff", reason="asked"))
    return Written("I couldn't reach a colleague right now. Please try again in a moment.")


def _change(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    status = data.get("status")
    if status == "needs_verification":
        return Written(VERIFY_FIRST, pending=Pending(kind="verify"))
    if status == "needs_confirmation":
        return Written(str(data.get("note")), pending=Pending(kind="order_change"))
    if status == "refused":
        return Written(f"I can't do that: {data.get('note')}.")
    if status == "declined":
        return Written("OK, I've left the order as it is.")
    return Written(f"Thanks, {data.get('note')}.")


def _verified(data: dict[str, Any], note: dict[str, Any], memory: Memory) -> Written:
    if data.get("verified"):
        return Written("Thanks, that's confirmed. What would you like to do with your order?")
    return Written(
        "Sorry, that doesn't match an order of yours. Could you check the email on the order, "
        "or your full name and zip code?",
        pending=Pending(kind="verify"),
    )


WRITERS = {
    "request_order_change": _change,
    "confirm_order_change": _change,
    "verify_identity": _verified,
    "get_order_status": _orders,
    "get_profile": _profile,
    "offer_discount": _offer,
    "schedule_follow_up": _follow_up,
    "update_preferences": _preferences,
    "handoff_to_human": _handoff,
}


def answer(
    tool_name: str, content: str, note: dict[str, Any] | None = None, memory: Memory | None = None
) -> Written:
    """The reply written from one tool result."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict) or "error" in data:
        return Written("Sorry, I couldn't do that. Could you say it another way?")
    plan = note or {}
    known = memory or Memory()
    if tool_name == "search_products":
        return _search(data, plan, known)
    writer = WRITERS.get(tool_name)
    return writer(data, plan, known) if writer else Written("Done.")
