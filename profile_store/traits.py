"""Traits derived from events, updated in the same transaction as the event is stored.

Every update here commutes: counts and sums add, first/last seen take min/max, and cart lines
carry their own timestamps. So the traits after a set of events do not depend on the order in
which the events arrived, and a late event (sent after a newer one) lands where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from profile_store import clock
from profile_store.schemas import (
    CartLineView,
    CartProps,
    MessageProps,
    OpenCartView,
    OrderProps,
    ProductProps,
    PurchaseView,
    RefundProps,
    TraitsView,
)

# How much one event of a type says about interest in a category.
AFFINITY_WEIGHTS = {"product_viewed": 1.0, "added_to_cart": 3.0, "order_completed": 5.0}
# Events a shopper does (rather than has done to them): these shape their engagement hours.
ACTIVE_TYPES = frozenset(
    {
        "product_viewed",
        "added_to_cart",
        "removed_from_cart",
        "checkout_started",
        "order_completed",
        "message_opened",
        "message_clicked",
        "message_replied",
    }
)
ENGAGEMENT_KINDS = {
    "message_sent": "sent",
    "message_opened": "opened",
    "message_clicked": "clicked",
    "message_replied": "replied",
}


@dataclass(slots=True)
class TraitState:
    """The working copy of one ``customer_traits`` row while events are folded into it.

    A plain dataclass rather than the SQLModel row: ingestion handles thousands per second and
    ORM instances cost far more to build and flush than the fold itself.
    """

    customer_id: str
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_order_at: datetime | None = None
    event_count: int = 0
    order_count: int = 0
    refund_count: int = 0
    discounted_order_count: int = 0
    spent: dict[str, float] = field(default_factory=dict)
    refunded: dict[str, float] = field(default_factory=dict)
    category_affinity: dict[str, float] = field(default_factory=dict)
    channel_engagement: dict[str, dict[str, int]] = field(default_factory=dict)
    engagement_hours: list[int] = field(default_factory=lambda: [0] * 24)
    cart: dict[str, Any] = field(default_factory=dict)
    purchased_products: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: datetime = field(default_factory=clock.now)

    @classmethod
    def from_row(cls, row: Any) -> TraitState:
        """From a ``customer_traits`` row: time columns plus the JSON ``data`` document."""
        return cls(
            customer_id=row.customer_id,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            last_order_at=row.last_order_at,
            updated_at=row.updated_at,
            **row.data,
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "first_seen_at": self.first_seen_at,
            "last_seen_at": self.last_seen_at,
            "last_order_at": self.last_order_at,
            "updated_at": self.updated_at,
            "data": {name: getattr(self, name) for name in _DATA_FIELDS},
        }


_COLUMN_FIELDS = {"customer_id", "first_seen_at", "last_seen_at", "last_order_at", "updated_at"}
_DATA_FIELDS = tuple(f.name for f in fields(TraitState) if f.name not in _COLUMN_FIELDS)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def apply_event(traits: TraitState, event_type: str, props: Any, occurred_at: datetime) -> None:
    """Fold one stored event into ``traits``. ``props`` is the validated properties model."""
    traits.event_count += 1
    if traits.first_seen_at is None or occurred_at < traits.first_seen_at:
        traits.first_seen_at = occurred_at
    if traits.last_seen_at is None or occurred_at > traits.last_seen_at:
        traits.last_seen_at = occurred_at
    if event_type in ACTIVE_TYPES:
        hours = list(traits.engagement_hours)
        hours[occurred_at.astimezone(UTC).hour] += 1
        traits.engagement_hours = hours

    if isinstance(props, ProductProps) and props.category and event_type in AFFINITY_WEIGHTS:
        _add_affinity(traits, {props.category: AFFINITY_WEIGHTS[event_type]})
    if event_type in ("added_to_cart", "removed_from_cart") and isinstance(props, CartProps):
        sign = 1 if event_type == "added_to_cart" else -1
        _change_cart_line(traits, props, sign * props.quantity, occurred_at)
    elif event_type == "order_completed" and isinstance(props, OrderProps):
        _apply_order(traits, props, occurred_at)
    elif event_type == "order_refunded" and isinstance(props, RefundProps):
        traits.refund_count += 1
        traits.refunded = _add_money(traits.refunded, props.currency, props.amount)
    elif event_type in ENGAGEMENT_KINDS and isinstance(props, MessageProps):
        record_engagement(traits, props.channel.value, ENGAGEMENT_KINDS[event_type])
    traits.updated_at = clock.now()


def record_engagement(traits: TraitState, channel: str, kind: str, count: int = 1) -> None:
    """Count sent/opened/clicked/replied messages on a channel (the channel pipeline calls it)."""
    engagement = {c: dict(v) for c, v in traits.channel_engagement.items()}
    per_channel = engagement.setdefault(
        channel, {"sent": 0, "opened": 0, "clicked": 0, "replied": 0}
    )
    per_channel[kind] = per_channel.get(kind, 0) + count
    traits.channel_engagement = engagement


def _add_money(totals: dict[str, float], currency: str, amount: float) -> dict[str, float]:
    return {**totals, currency: round(totals.get(currency, 0.0) + amount, 2)}


def _add_affinity(traits: TraitState, weights: dict[str, float]) -> None:
    affinity = dict(traits.category_affinity)
    for category, weight in weights.items():
        affinity[category] = affinity.get(category, 0.0) + weight
    traits.category_affinity = affinity


def _cart(traits: TraitState) -> dict[str, Any]:
    cart = traits.cart or {}
    return {
        "lines": {k: dict(v) for k, v in cart.get("lines", {}).items()},
        "cleared_at": cart.get("cleared_at"),
    }


def _change_cart_line(
    traits: TraitState, props: CartProps, delta: int, occurred_at: datetime
) -> None:
    cart = _cart(traits)
    cleared_at = _parse(cart["cleared_at"])
    if cleared_at is not None and occurred_at <= cleared_at:
        return  # a late cart change from before the order that emptied the cart
    line = cart["lines"].setdefault(
        props.product_id, {"quantity": 0, "price": None, "currency": None, "updated_at": None}
    )
    # Quantities may dip below zero while a late "added" is still on its way: adds and removes
    # then commute. Only lines with a positive quantity are shown as the open cart.
    line["quantity"] += delta
    last = _parse(line["updated_at"])
    if last is None or occurred_at >= last:
        line["updated_at"] = _iso(occurred_at)
        if props.price is not None:
            line["price"] = props.price
            line["currency"] = props.currency
    traits.cart = cart


def _apply_order(traits: TraitState, props: OrderProps, occurred_at: datetime) -> None:
    traits.order_count += 1
    traits.discounted_order_count += int(props.discounted)
    traits.spent = _add_money(traits.spent, props.currency, props.total)
    if traits.last_order_at is None or occurred_at > traits.last_order_at:
        traits.last_order_at = occurred_at

    purchased = {k: dict(v) for k, v in traits.purchased_products.items()}
    weights: dict[str, float] = {}
    for item in props.items:
        entry = purchased.setdefault(
            item.product_id,
            {"count": 0, "first_at": _iso(occurred_at), "last_at": _iso(occurred_at)},
        )
        entry["count"] += item.quantity
        if item.category:
            entry["category"] = item.category
        entry["first_at"] = _iso(min(_parse(entry["first_at"]) or occurred_at, occurred_at))
        entry["last_at"] = _iso(max(_parse(entry["last_at"]) or occurred_at, occurred_at))
        if item.category:
            weights[item.category] = (
                weights.get(item.category, 0.0) + AFFINITY_WEIGHTS["order_completed"]
            )
    traits.purchased_products = purchased
    _add_affinity(traits, weights)

    # The order empties the cart as it stood then; lines changed afterwards stay open.
    cart = _cart(traits)
    cleared_at = _parse(cart["cleared_at"])
    if cleared_at is None or occurred_at > cleared_at:
        cart["cleared_at"] = _iso(occurred_at)
    cart["lines"] = {
        pid: line
        for pid, line in cart["lines"].items()
        if (_parse(line["updated_at"]) or occurred_at) > occurred_at
    }
    traits.cart = cart


def merge_traits(target: TraitState, source: TraitState) -> None:
    """Fold a merged-away profile's traits into the surviving one."""
    target.event_count += source.event_count
    target.order_count += source.order_count
    target.refund_count += source.refund_count
    target.discounted_order_count += source.discounted_order_count
    firsts = [v for v in (target.first_seen_at, source.first_seen_at) if v]
    target.first_seen_at = min(firsts) if firsts else None
    for name in ("last_seen_at", "last_order_at"):
        lasts = [v for v in (getattr(target, name), getattr(source, name)) if v]
        setattr(target, name, max(lasts) if lasts else None)
    for currency, amount in source.spent.items():
        target.spent = _add_money(target.spent, currency, amount)
    for currency, amount in source.refunded.items():
        target.refunded = _add_money(target.refunded, currency, amount)
    _add_affinity(target, source.category_affinity)
    for channel, counts in source.channel_engagement.items():
        for kind, count in counts.items():
            record_engagement(target, channel, kind, count)
    target.engagement_hours = [
        a + b for a, b in zip(target.engagement_hours, source.engagement_hours, strict=True)
    ]
    purchased = {k: dict(v) for k, v in target.purchased_products.items()}
    for pid, entry in source.purchased_products.items():
        mine = purchased.get(pid)
        if mine is None:
            purchased[pid] = dict(entry)
        else:
            mine["count"] += entry["count"]
            mine.setdefault("category", entry.get("category"))
            mine["first_at"] = min(mine["first_at"], entry["first_at"])
            mine["last_at"] = max(mine["last_at"], entry["last_at"])
    target.purchased_products = purchased
    cart, other = _cart(target), _cart(source)
    for pid, line in other["lines"].items():
        mine_line = cart["lines"].get(pid)
        if mine_line is None:
            cart["lines"][pid] = line
        else:
            mine_line["quantity"] += line["quantity"]
            if (line["updated_at"] or "") > (mine_line["updated_at"] or ""):
                mine_line.update(
                    price=line["price"], currency=line["currency"], updated_at=line["updated_at"]
                )
    cleared = [c for c in (cart["cleared_at"], other["cleared_at"]) if c]
    cart["cleared_at"] = max(cleared) if cleared else None
    target.cart = cart
    target.updated_at = clock.now()


def traits_view(traits: TraitState | None, now: datetime) -> TraitsView:
    """The read model of traits: raw counters turned into RFM, LTV, shares and the open cart."""
    traits = traits or TraitState(customer_id="")
    lines = [
        CartLineView(
            product_id=pid,
            quantity=line["quantity"],
            price=line["price"],
            currency=line["currency"],
            updated_at=datetime.fromisoformat(line["updated_at"]),
        )
        for pid, line in sorted((traits.cart or {}).get("lines", {}).items())
        if line["quantity"] > 0
    ]
    currencies = {line.currency for line in lines if line.currency}
    cart = OpenCartView(
        items=lines,
        value=round(sum(line.quantity * (line.price or 0.0) for line in lines), 2),
        currency=currencies.pop() if len(currencies) == 1 else None,
        updated_at=max((line.updated_at for line in lines), default=None),
    )
    affinity_total = sum(traits.category_affinity.values()) or 1.0
    return TraitsView(
        first_seen_at=traits.first_seen_at,
        last_seen_at=traits.last_seen_at,
        event_count=traits.event_count,
        recency_days=(
            round((now - traits.last_order_at).total_seconds() / 86400, 3)
            if traits.last_order_at
            else None
        ),
        frequency=traits.order_count,
        monetary=dict(traits.spent),
        lifetime_value={
            c: round(traits.spent.get(c, 0.0) - traits.refunded.get(c, 0.0), 2)
            for c in sorted(set(traits.spent) | set(traits.refunded))
        },
        # Orders are not counted per currency, so an average is only given for one currency.
        average_order_value=(
            {c: round(v / traits.order_count, 2) for c, v in traits.spent.items()}
            if traits.order_count and len(traits.spent) == 1
            else {}
        ),
        refund_count=traits.refund_count,
        discounted_order_count=traits.discounted_order_count,
        category_affinity={
            c: round(w / affinity_total, 4)
            for c, w in sorted(traits.category_affinity.items(), key=lambda kv: -kv[1])
        },
        channel_engagement=traits.channel_engagement,
        engagement_hours_utc=list(traits.engagement_hours),
        open_cart=cart,
        purchased_products=[
            PurchaseView(
                product_id=pid,
                category=entry.get("category"),
                count=entry["count"],
                first_purchased_at=datetime.fromisoformat(entry["first_at"]),
                last_purchased_at=datetime.fromisoformat(entry["last_at"]),
            )
            for pid, entry in sorted(traits.purchased_products.items())
        ],
    )
