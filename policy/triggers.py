"""Real-time triggers: events start, move or cancel timers; a due timer becomes a decision.

Timers are rows written in the same transaction as the events that caused them, so a crash
never loses one, and a worker fires each within a second of its window ending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from policy.outcomes import DELIVERED, PURCHASED, cancel_send
from profile_store import clock
from profile_store.ingest import ValidatedEvent
from profile_store.models import CustomerTraits, Decision, ScheduledSend, TriggerTimer
from profile_store.schemas import CartProps, OrderProps, ProductProps

TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
TRAITS = CustomerTraits.__table__  # type: ignore[attr-defined]
# How far past the silence threshold a sweep still looks (a server off for longer misses some).
WIN_BACK_SCAN = timedelta(days=7)


class TriggerKind(StrEnum):
    CART_ABANDONED = "cart_abandoned"
    BROWSE_ABANDONED = "browse_abandoned"
    POST_PURCHASE = "post_purchase"
    WIN_BACK = "win_back"


MAX_PRODUCTS = 5
# Timers that events arm; win-back is found by a sweep over last-seen times instead, so that
# not every event has to move a timer.
EVENT_TIMERS = [
    TriggerKind.CART_ABANDONED.value,
    TriggerKind.BROWSE_ABANDONED.value,
    TriggerKind.POST_PURCHASE.value,
]
# Reminders that a purchase makes pointless.
REMINDERS = (TriggerKind.CART_ABANDONED, TriggerKind.BROWSE_ABANDONED)


@dataclass(slots=True)
class _Timer:
    id: int | None
    customer_id: str
    kind: str
    anchor: str
    fire_at: datetime
    product_ids: list[str]
    status: str = "pending"
    changed: bool = False


async def update_timers(
    session: AsyncSession,
    events: Iterable[tuple[ValidatedEvent, str]],
    rules: Guardrails,
) -> None:
    """Start, move or cancel timers for newly stored (event, customer id) pairs.

    Runs inside the ingestion transaction for every batch, so it reads the batch's pending
    timers in one query, folds the events in memory and writes the changes in bulk.
    """
    ordered = sorted(events, key=lambda pair: pair[0].event.occurred_at)
    if not ordered:
        return
    conn = await session.connection()
    customers = sorted({customer_id for _, customer_id in ordered})
    rows = await conn.execute(
        select(TIMERS).where(
            TIMERS.c.customer_id.in_(customers),
            TIMERS.c.status == "pending",
            TIMERS.c.kind.in_(EVENT_TIMERS),
        )
    )
    timers: dict[tuple[str, str, str], _Timer] = {
        (row.customer_id, row.kind, row.anchor): _Timer(
            row.id, row.customer_id, row.kind, row.anchor, row.fire_at, list(row.product_ids)
        )
        for row in rows
    }
    cancellations: list[tuple[str, list[TriggerKind], list[str] | None, str]] = []
    orders: list[tuple[str, datetime]] = []
    windows = rules.triggers
    history = clock.now() - windows.horizon

    def arm(
        customer_id: str, kind: TriggerKind, anchor: str, fire_at: datetime, products: list[str]
    ) -> None:
        if fire_at < history:
            return  # its moment passed long ago: history, not a reason to message
        # Moved later, never earlier: a late event must not fire the timer early.
        timer = timers.get((customer_id, kind.value, anchor))
        if timer is None or timer.status != "pending":
            timers[(customer_id, kind.value, anchor)] = _Timer(
                None, customer_id, kind.value, anchor, fire_at, products, changed=True
            )
            return
        timer.fire_at = max(timer.fire_at, fire_at)
        # The most recent few products are what a reminder can talk about.
        timer.product_ids = list(dict.fromkeys([*timer.product_ids, *products]))[-MAX_PRODUCTS:]
        timer.changed = True

    def cancel(
        customer_id: str,
        kinds: list[TriggerKind],
        products: list[str] | None,
        reason: str,
        *,
        sends: bool = True,
    ) -> None:
        for timer in timers.values():
            if (
                timer.customer_id == customer_id
                and timer.kind in kinds
                and timer.status == "pending"
                and (
                    products is None
                    or not timer.product_ids
                    or set(timer.product_ids) <= set(products)
                )
            ):
                timer.status = f"cancelled:{reason}"
                timer.changed = True
        if sends:
            cancellations.append((customer_id, kinds, products, reason))

    for item, customer_id in ordered:
        at, props, kind = item.event.occurred_at, item.props, item.event.type
        if kind in ("added_to_cart", "removed_from_cart") and isinstance(props, CartProps):
            arm(
                customer_id,
                TriggerKind.CART_ABANDONED,
                "cart",
                at + windows.cart_abandoned,
                [props.product_id],
            )
        elif kind == "product_viewed" and isinstance(props, ProductProps):
            arm(
                customer_id,
                TriggerKind.BROWSE_ABANDONED,
                "browse",
                at + windows.browse_abandoned,
                [props.product_id],
            )
        elif kind == "checkout_started":
            cancel(customer_id, [TriggerKind.CART_ABANDONED], None, "checkout")
        elif kind == "order_completed" and isinstance(props, OrderProps):
            bought = [i.product_id for i in props.items]
            orders.append((customer_id, at))
            cancel(customer_id, list(REMINDERS), bought, PURCHASED)
            arm(customer_id, TriggerKind.POST_PURCHASE, "order", at + windows.post_purchase, bought)

    await _write_timers(conn, [t for t in timers.values() if t.changed])
    await _attribute_conversions(conn, orders)
    await _cancel_sends(session, cancellations)


async def arm_win_back(session: AsyncSession, rules: Guardrails, now: datetime) -> int:
    """Arm a win-back timer for each customer silent for the configured time, once per
    silence (the anchor is the last-seen time, so a customer who comes back and goes quiet
    again is eligible again). Returns how many were armed."""
    conn = await session.connection()
    cutoff = now - rules.triggers.win_back
    silent = await conn.execute(
        select(TRAITS.c.customer_id, TRAITS.c.last_seen_at).where(
            TRAITS.c.last_seen_at <= cutoff, TRAITS.c.last_seen_at > cutoff - WIN_BACK_SCAN
        )
    )
    candidates = {row.customer_id: f"silence:{row.last_seen_at.isoformat()}" for row in silent}
    if not candidates:
        return 0
    known = await conn.execute(
        select(TIMERS.c.customer_id, TIMERS.c.anchor).where(
            TIMERS.c.customer_id.in_(sorted(candidates)),
            TIMERS.c.kind == TriggerKind.WIN_BACK.value,
        )
    )
    armed = {(row.customer_id, row.anchor) for row in known}
    new = [
        {
            "customer_id": cid,
            "kind": TriggerKind.WIN_BACK.value,
            "anchor": anchor,
            "fire_at": now,
            "status": "pending",
            "product_ids": [],
            "created_at": now,
        }
        for cid, anchor in candidates.items()
        if (cid, anchor) not in armed
    ]
    if new:
        await conn.execute(insert(TIMERS), new)
    return len(new)


async def _write_timers(conn: AsyncConnection, changed: list[_Timer]) -> None:
    new = [t for t in changed if t.id is None and t.status == "pending"]
    if new:
        now = clock.now()
        await conn.execute(
            insert(TIMERS),
            [
                {
                    "customer_id": t.customer_id,
                    "kind": t.kind,
                    "anchor": t.anchor,
                    "fire_at": t.fire_at,
                    "status": t.status,
                    "product_ids": t.product_ids,
                    "created_at": now,
                }
                for t in new
            ],
        )
    existing = [t for t in changed if t.id is not None]
    if existing:
        await conn.execute(
            update(TIMERS)
            .where(TIMERS.c.id == bindparam("b_id"))
            .values(
                fire_at=bindparam("b_fire_at"),
                status=bindparam("b_status"),
                product_ids=bindparam("b_product_ids"),
            ),
            [
                {
                    "b_id": t.id,
                    "b_fire_at": t.fire_at,
                    "b_status": t.status,
                    "b_product_ids": t.product_ids,
                }
                for t in sorted(existing, key=lambda t: t.id or 0)
            ],
        )


# An order within this time of a message (or of a held-out decision) counts as its conversion.
ATTRIBUTION_WINDOW = timedelta(days=7)


async def _attribute_conversions(conn: AsyncConnection, orders: list[tuple[str, datetime]]) -> None:
    """Mark sent (and held-out) decisions converted by an order within the window."""
    if not orders:
        return
    customers = sorted({customer_id for customer_id, _ in orders})
    earliest = min(at for _, at in orders) - ATTRIBUTION_WINDOW
    rows = await conn.execute(
        select(DECISIONS.c.id, DECISIONS.c.customer_id, DECISIONS.c.created_at).where(
            DECISIONS.c.customer_id.in_(customers),
            DECISIONS.c.outcome.in_([*sorted(DELIVERED - {"converted"}), "held_out"]),
            DECISIONS.c.created_at > earliest,
        )
    )
    converted = [
        {"b_id": row.id, "b_at": at}
        for row in rows
        for customer_id, at in orders
        if row.customer_id == customer_id and at - ATTRIBUTION_WINDOW < row.created_at <= at
    ]
    if converted:
        unique = list({c["b_id"]: c for c in converted}.values())
        await conn.execute(
            update(DECISIONS)
            .where(DECISIONS.c.id == bindparam("b_id"))
            .values(outcome="converted", outcome_at=bindparam("b_at")),
            unique,
        )


async def _cancel_sends(
    session: AsyncSession,
    cancellations: list[tuple[str, list[TriggerKind], list[str] | None, str]],
) -> None:
    """Cancel not-yet-sent reminders of these kinds (for these products, or all)."""
    if not cancellations:
        return
    conn = await session.connection()
    rows = await conn.execute(
        select(SENDS.c.id, SENDS.c.customer_id, SENDS.c.program, SENDS.c.product_ids).where(
            SENDS.c.customer_id.in_(sorted({c[0] for c in cancellations})),
            SENDS.c.program.in_([k.value for k in REMINDERS]),
            SENDS.c.status == "pending",
        )
    )
    pending = rows.all()
    for customer_id, kinds, products, reason in cancellations:
        for send in pending:
            if (
                send.customer_id == customer_id
                and send.program in kinds
                and (
                    products is None
                    or not send.product_ids
                    or set(send.product_ids) & set(products)
                )
            ):
                await cancel_send(session, send.id, reason)
