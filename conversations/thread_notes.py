"""What the conversation's thread must also know: the automated messages sent into it.

They are outbound messages of the conversation written by the scheduler when a send goes out;
the bot's own answers are already in its thread, and a person's replies reach it with the
hand-back (``app.agent_handler``). A shopper's reply within the attribution window of an
automated message is that message's response (its decision becomes ``replied``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from conversations.handler import ThreadNote
from conversations.inbox import MESSAGES

# How far back the thread is caught up, and how many notes at most.
NOTES_LOOKBACK = timedelta(days=14)
MAX_NOTES = 5
AUTOMATED_PREFIX = "send:"


async def load_notes(
    conn: AsyncConnection, conversation_id: str, now: datetime
) -> list[ThreadNote]:
    rows = await conn.execute(
        select(MESSAGES.c.id, MESSAGES.c.text, MESSAGES.c.payload, MESSAGES.c.created_at)
        .where(
            MESSAGES.c.conversation_id == conversation_id,
            MESSAGES.c.direction == "out",
            MESSAGES.c.idempotency_key.startswith(AUTOMATED_PREFIX),
            MESSAGES.c.status.not_in(["queued", "failed"]),
            MESSAGES.c.created_at > now - NOTES_LOOKBACK,
        )
        .order_by(MESSAGES.c.id.desc())
        .limit(MAX_NOTES)
    )
    notes = []
    for row in rows:
        payload: dict[str, Any] = row.payload or {}
        origin = payload.get("origin") or {"kind": "automated"}
        notes.append(
            ThreadNote(id=row.id, text=row.text or "", origin=origin, created_at=row.created_at)
        )
    return list(reversed(notes))


def answered_message(
    notes: list[ThreadNote], window: timedelta, now: datetime
) -> ThreadNote | None:
    """The automated message a shopper's message now answers: the latest one, if recent."""
    automated = [n for n in notes if n.origin.get("decision_id")]
    if not automated:
        return None
    latest = automated[-1]
    return latest if now - latest.created_at <= window else None
