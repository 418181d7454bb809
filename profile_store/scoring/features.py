"""A customer's purchase history as the scoring models read it, from their traits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from profile_store.traits import TraitState

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class History:
    orders: int
    discounted_orders: int
    first_seen_days: float  # days since first seen (0 for someone never seen)
    first_order_days: float | None  # days since the first order; None for a prospect
    last_order_days: float | None
    spent: dict[str, float]

    @property
    def repeats(self) -> int:
        return max(self.orders - 1, 0)

    @property
    def t_x(self) -> float:
        """Days from the first order to the last one (BG/NBD's t_x)."""
        if self.first_order_days is None or self.last_order_days is None:
            return 0.0
        return max(self.first_order_days - self.last_order_days, 0.0)


def _first_order_at(traits: TraitState) -> datetime | None:
    """The first order: the earliest first purchase of a product; with no item lines, the only
    order, or the first time seen (close enough for a customer whose orders carry no items)."""
    if not traits.order_count:
        return None
    # The traits write these as UTC ISO strings, so the earliest string is the earliest time.
    firsts = [entry["first_at"] for entry in traits.purchased_products.values()]
    if firsts:
        return datetime.fromisoformat(min(firsts))
    if traits.order_count == 1 and traits.last_order_at is not None:
        return traits.last_order_at
    return traits.first_seen_at or traits.last_order_at


def history(traits: TraitState, now: datetime) -> History:
    def days(at: datetime | None) -> float | None:
        return None if at is None else max((now - at).total_seconds() / DAY, 0.0)

    return History(
        orders=traits.order_count,
        discounted_orders=traits.discounted_order_count,
        first_seen_days=days(traits.first_seen_at) or 0.0,
        first_order_days=days(_first_order_at(traits)),
        last_order_days=days(traits.last_order_at),
        spent=dict(traits.spent),
    )
