"""What became of a decision: written back to the decision log as it happens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.models import Decision, ScheduledSend

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
# A message that went out, however the shopper took it: still "sent" for every report.
DELIVERED = frozenset({"sent", "clicked", "replied", "converted"})
RESPONSES = frozenset({"clicked", "replied", "converted"})
PURCHASED = "purchased"  # why a pending reminder is cancelled when the shopper buys first


def cancellation_note(reason: str) -> str:
    """What a cancelled send keeps as its ``last_error``."""
    return f"cancelled: {reason}"


async def record_outcome(
    session: AsyncSession,
    decision_id: str | None,
    outcome: str | None,
    reasons: list[dict[str, Any]],
) -> None:
    """Set a decision's outcome (None: still pending, e.g. deferred) and the reasons."""
    if decision_id is None:
        return
    conn = await session.connection()
    await conn.execute(
        update(DECISIONS)
        .where(DECISIONS.c.id == decision_id)
        .values(outcome=outcome, outcome_reasons=reasons, outcome_at=clock.now())
    )


async def cancel_send(session: AsyncSession, send_id: str, reason: str) -> bool:
    """Cancel a send that has not gone out; False if it already went (or was never there)."""
    conn = await session.connection()
    result = await conn.execute(
        update(SENDS)
        .where(SENDS.c.id == send_id, SENDS.c.status == "pending")
        .values(status="cancelled", last_error=cancellation_note(reason), updated_at=clock.now())
        .returning(SENDS.c.decision_id)
    )
    row = result.first()
    if row is None:
        return False
    await record_outcome(
        session, row.decision_id, "cancelled", [{"code": "cancelled", "detail": reason}]
    )
    return True


async def record_response(
    conn: AsyncConnection, decision_id: str, response: str, at: datetime
) -> bool:
    """The shopper clicked or answered the message of ``decision_id``: its first response, kept
    unless an order follows (``converted`` then overwrites it). False if it had one already."""
    result = await conn.execute(
        update(DECISIONS)
        .where(DECISIONS.c.id == decision_id, DECISIONS.c.outcome == "sent")
        .values(outcome=response, outcome_at=at)
    )
    return bool(result.rowcount)
