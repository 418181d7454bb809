"""Real-time triggers: events start, move or cancel timers; a due timer becomes a decision.

Timers are rows written in the same transaction as the events that caused them, so a crash
never loses one, and a worker fires each within a second of its window ending.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from policy.outcomes import cancel_send
from profile_store.ingest import ValidatedEvent
from profile_store.models import Decision, ScheduledSend, TriggerTimer
from profile_store.schemas import CartProps, OrderProps, ProductProps

TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]


class TriggerKind(StrEnum):
    CART_ABANDONED = "cart_abandoned"
    BROWSE_ABANDONED = "browse_abandoned"
    POST_PURCHASE = "post_purchase"
    WIN_BACK = "win_back"


# Reminders that a purchase makes pointless.
REMINDERS = (TriggerKind.CART_ABANDONED, TriggerKind.BROWSE_ABANDONED)


async def update_timers(
    session: AsyncSession,
    events: Iterable[tuple[ValidatedEvent, str]],
    rules: Guardrails,
) -> None:
    """Start, move or cancel timers for newly stored events (event, customer id) pairs."""
    windows = rules.triggers
    for item, customer_id in sorted(events, key=lambda pair: pair[0].event.occurred_at):
        at = item.event.occurred_at
        props = item.props
        kind = item.event.type
        if kind in ("added_to_cart", "removed_from_cart") and isinstance(props, CartProps):
            await _arm(
                session,
                customer_id,
                TriggerKind.CART_ABANDONED,
                "cart",
                at + windows.cart_abandoned,
                [props.product_id],
            )
        elif kind == "product_viewed" and isinstance(props, ProductProps):
            await _arm(
                session,
                customer_id,
                TriggerKind.BROWSE_ABANDONED,
                props.product_id,
                at + windows.browse_abandoned,
                [props.product_id],
            )
        elif kind == "checkout_started":
            await _cancel(session, customer_id, [TriggerKind.CART_ABANDONED], None, "checkout")
        elif kind == "order_completed" and isinstance(props, OrderProps):
            bought = [i.product_id for i in props.items]
            await _attribute_conversion(session, customer_id, at)
            await _cancel(session, customer_id, list(REMINDERS), bought, "purchased")
            await _arm(
                session,
                customer_id,
                TriggerKind.POST_PURCHASE,
                props.order_id,
                at + windows.post_purchase,
                bought,
            )
        if kind not in ("consent_changed", "identify", "message_sent"):
            await _arm(
                session,
                customer_id,
                TriggerKind.WIN_BACK,
                "silence",
                at + windows.win_back,
                [],
            )


# An order within this time of a message (or of a held-out decision) counts as its conversion.
ATTRIBUTION_WINDOW = timedelta(days=7)


async def _attribute_conversion(session: AsyncSession, customer_id: str, at: datetime) -> None:
    conn = await session.connection()
    await conn.execute(
        update(DECISIONS)
        .where(
            DECISIONS.c.customer_id == customer_id,
            DECISIONS.c.outcome.in_(["sent", "held_out"]),
            DECISIONS.c.created_at > at - ATTRIBUTION_WINDOW,
            DECISIONS.c.created_at <= at,
        )
        .values(outcome="converted", outcome_at=at)
    )


async def _arm(
    session: AsyncSession,
    customer_id: str,
    kind: TriggerKind,
    anchor: str,
    fire_at: datetime,
    product_ids: list[str],
) -> None:
    """Move the pending timer later (never earlier: a late event must not fire it early)."""
    conn = await session.connection()
    current = (
        await conn.execute(
            select(TIMERS.c.id, TIMERS.c.fire_at, TIMERS.c.product_ids).where(
                TIMERS.c.customer_id == customer_id,
                TIMERS.c.kind == kind.value,
                TIMERS.c.anchor == anchor,
                TIMERS.c.status == "pending",
            )
        )
    ).first()
    if current is None:
        await conn.execute(
            insert(TIMERS).values(
                customer_id=customer_id,
                kind=kind.value,
                anchor=anchor,
                fire_at=fire_at,
                status="pending",
                product_ids=product_ids,
                created_at=datetime.now(fire_at.tzinfo),
            )
        )
        return
    merged = list(dict.fromkeys([*current.product_ids, *product_ids]))
    await conn.execute(
        update(TIMERS)
        .where(TIMERS.c.id == current.id)
        .values(fire_at=max(current.fire_at, fire_at), product_ids=merged)
    )


async def _cancel(
    session: AsyncSession,
    customer_id: str,
    kinds: list[TriggerKind],
    product_ids: list[str] | None,
    reason: str,
) -> None:
    """Cancel pending timers and not-yet-sent reminders (for these products, or all)."""
    conn = await session.connection()
    programs = [k.value for k in kinds]
    timers = await conn.execute(
        select(TIMERS.c.id, TIMERS.c.product_ids).where(
            TIMERS.c.customer_id == customer_id,
            TIMERS.c.kind.in_(programs),
            TIMERS.c.status == "pending",
        )
    )
    for timer_id, timer_products in timers.all():
        if product_ids is None or set(timer_products) <= set(product_ids) or not timer_products:
            await conn.execute(
                update(TIMERS).where(TIMERS.c.id == timer_id).values(status=f"cancelled:{reason}")
            )
    sends = await conn.execute(
        select(SENDS.c.id, SENDS.c.product_ids).where(
            SENDS.c.customer_id == customer_id,
            SENDS.c.program.in_(programs),
            SENDS.c.status == "pending",
        )
    )
    for send_id, send_products in sends.all():
        if product_ids is None or set(send_products) & set(product_ids) or not send_products:
            await cancel_send(session, send_id, reason)
