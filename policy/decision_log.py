"""Reading the decision log and a customer's timeline: why each message was sent or not."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import Decision, Event, ScheduledSend

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]


class DecisionView(BaseModel):
    id: str
    trigger: str
    program: str
    action: str
    channel: str | None
    send_at: datetime | None
    product_ids: list[str]
    verdict: str
    reasons: list[dict[str, Any]]
    held_out: bool
    repeat: bool = False  # a reminder about products reminded of within the window
    variant: str | None = None  # the copy variant sent
    details: dict[str, Any]
    outcome: str | None
    outcome_reasons: list[dict[str, Any]]
    outcome_at: datetime | None
    created_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    kind: Literal["event", "decision", "send"]
    summary: str
    ref: str


async def list_decisions(
    session: AsyncSession, customer_id: str, *, limit: int = 50
) -> list[DecisionView]:
    conn = await session.connection()
    rows = await conn.execute(
        select(DECISIONS)
        .where(DECISIONS.c.customer_id == customer_id)
        .order_by(DECISIONS.c.created_at.desc())
        .limit(limit)
    )
    return [DecisionView.model_validate(row._mapping) for row in rows]


async def timeline(
    session: AsyncSession, customer_id: str, *, limit: int = 100
) -> list[TimelineEntry]:
    """Events, decisions and sends of one customer, newest first."""
    conn = await session.connection()
    events = await conn.execute(
        select(EVENTS.c.event_id, EVENTS.c.type, EVENTS.c.occurred_at)
        .where(EVENTS.c.customer_id == customer_id)
        .order_by(EVENTS.c.occurred_at.desc())
        .limit(limit)
    )
    entries = [
        TimelineEntry(at=row.occurred_at, kind="event", summary=row.type, ref=row.event_id)
        for row in events
    ]
    for decision in await list_decisions(session, customer_id, limit=limit):
        blocking = [r["code"] for r in decision.reasons if r.get("blocking")]
        why = f" ({', '.join(blocking)})" if blocking else ""
        where = (
            f" on {decision.channel} for {decision.send_at:%Y-%m-%d %H:%M} UTC"
            if decision.send_at
            else ""
        )
        entries.append(
            TimelineEntry(
                at=decision.created_at,
                kind="decision",
                summary=f"{decision.program}: {decision.verdict}{where}{why}"
                + (f" -> {decision.outcome}" if decision.outcome else ""),
                ref=decision.id,
            )
        )
    sends = await conn.execute(
        select(SENDS.c.id, SENDS.c.channel, SENDS.c.status, SENDS.c.sent_at, SENDS.c.updated_at)
        .where(SENDS.c.customer_id == customer_id)
        .order_by(SENDS.c.updated_at.desc())
        .limit(limit)
    )
    entries.extend(
        TimelineEntry(
            at=row.sent_at or row.updated_at,
            kind="send",
            summary=f"{row.channel} send {row.status}",
            ref=row.id,
        )
        for row in sends
    )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
