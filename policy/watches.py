"""Watches: follow-ups that wait for a catalog change rather than a time.

A shopper's "tell me when size 42 is back" is a trigger timer in the ``watching`` state. When the
catalog changes, :func:`fire_watches` makes the watches whose condition now holds due at once;
from there the normal trigger path decides (eligibility, channel, hour) and schedules the send.
A watch that waits past its expiry is closed without a message.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import Channel, TriggerTimer

TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
WATCHING = "watching"


class FollowUpKind(StrEnum):
    REMINDER = "reminder"
    BACK_IN_STOCK = "back_in_stock"
    PRICE_DROP = "price_drop"


WATCH_KINDS = (FollowUpKind.BACK_IN_STOCK.value, FollowUpKind.PRICE_DROP.value)


class ProductState(BaseModel):
    """What a watch needs to know of a product after a catalog change."""

    product_id: str
    price: float
    in_stock: bool
    sizes_in_stock: frozenset[str] = frozenset()


class FollowUpTerms(TypedDict, total=False):
    requested: bool
    note: str
    preferred: Channel | None


def follow_up_terms(details: dict[str, Any]) -> FollowUpTerms:
    """What a shopper's own request adds to the decision when its timer fires."""
    if not details.get("requested"):
        return {}
    channel = details.get("channel")
    return {
        "requested": True,
        "note": str(details.get("note") or ""),
        "preferred": Channel(channel) if channel in {c.value for c in Channel} else None,
    }


def condition_holds(kind: str, details: dict[str, object], state: ProductState) -> bool:
    if kind == FollowUpKind.BACK_IN_STOCK.value:
        size = details.get("size")
        if size:
            return str(size).casefold() in {s.casefold() for s in state.sizes_in_stock}
        return state.in_stock
    below = details.get("below_price")
    return isinstance(below, int | float) and state.price <= below


async def fire_watches(session: AsyncSession, states: list[ProductState], now: datetime) -> int:
    """Make due the watches these product states satisfy; the number made due."""
    by_id = {state.product_id: state for state in states}
    if not by_id:
        return 0
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(
                TIMERS.c.id, TIMERS.c.kind, TIMERS.c.anchor, TIMERS.c.fire_at, TIMERS.c.details
            ).where(
                TIMERS.c.status == WATCHING,
                TIMERS.c.kind.in_(WATCH_KINDS),
                TIMERS.c.anchor.in_(sorted(by_id)),
            )
        )
    ).all()
    fired = 0
    for row in rows:
        if row.fire_at <= now:
            status, fire_at = "expired", row.fire_at
        elif condition_holds(row.kind, row.details, by_id[row.anchor]):
            status, fire_at = "pending", now
            fired += 1
        else:
            continue
        await conn.execute(
            update(TIMERS)
            .where(TIMERS.c.id == row.id, TIMERS.c.status == WATCHING)
            .values(status=status, fire_at=fire_at)
        )
    return fired
