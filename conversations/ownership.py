"""Who answers a conversation: the bot, or a person who took it over.

Handing a conversation back to the bot queues a ``handback`` on it (like a person's decision):
the worker passes the handler what the shopper and the person said meanwhile, so the bot says
it is back and knows what was agreed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.handler import HandBack, HandBackLine
from conversations.inbox import CONVERSATIONS, HANDBACK_KIND, MESSAGES, make_due
from profile_store.models import MessageStatus

TRANSCRIPT_LINES = 30


class Owner(StrEnum):
    BOT = "bot"
    HUMAN = "human"


async def set_owner(
    session: AsyncSession, conversation_id: str, owner: Owner, *, now: datetime
) -> str | None:
    """The previous owner, or None if there is no such conversation. Taking over clears the
    flag asking for a person; handing back to the bot makes the conversation due, so anything
    that waited for the bot (a discount decision) is answered now."""
    conn = await session.connection()
    before = await conn.scalar(
        select(CONVERSATIONS.c.owner).where(CONVERSATIONS.c.id == conversation_id)
    )
    if before is None:
        return None
    changes: dict[str, object] = {"owner": owner}
    if owner is Owner.HUMAN:
        changes |= {"attention": None, "attention_at": None}  # a person has it now
    await conn.execute(
        update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(**changes)
    )
    if owner is Owner.BOT:
        if before == Owner.HUMAN.value:
            await _queue_handback(conn, conversation_id, now)
        await make_due(conn, conversation_id, now)
    return str(before)


async def _queue_handback(conn: AsyncConnection, conversation_id: str, now: datetime) -> None:
    channel = await conn.scalar(
        select(CONVERSATIONS.c.channel).where(CONVERSATIONS.c.id == conversation_id)
    )
    transcript = await _since_bot(conn, conversation_id)
    await conn.execute(
        MESSAGES.insert().values(
            conversation_id=conversation_id,
            channel=channel,
            direction="in",
            kind=HANDBACK_KIND,
            provider_message_id=f"handback:{uuid.uuid4().hex}",
            text=None,
            payload=HandBack(transcript=transcript).model_dump(mode="json"),
            status=MessageStatus.PENDING.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


async def _since_bot(conn: AsyncConnection, conversation_id: str) -> list[HandBackLine]:
    """What the shopper and the person said since the bot last spoke, the handoff note or the
    last hand-back."""
    person = MESSAGES.c.idempotency_key.like("human:%")
    cutoff = await conn.scalar(
        select(MESSAGES.c.id)
        .where(
            MESSAGES.c.conversation_id == conversation_id,
            or_(
                MESSAGES.c.direction == "note",
                MESSAGES.c.kind == HANDBACK_KIND,
                (MESSAGES.c.direction == "out") & ~person,
            ),
        )
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
    )
    rows = (
        await conn.execute(
            select(MESSAGES.c.direction, MESSAGES.c.text, MESSAGES.c.payload)
            .where(
                MESSAGES.c.conversation_id == conversation_id,
                MESSAGES.c.id > (cutoff or 0),
                MESSAGES.c.text.is_not(None),
                or_(MESSAGES.c.direction == "in", (MESSAGES.c.direction == "out") & person),
            )
            .order_by(MESSAGES.c.id)
        )
    ).all()
    lines = [
        HandBackLine(
            role="person" if row.direction == "out" else "shopper",
            text=str(row.text)[:1000],
            author=(row.payload or {}).get("author") if row.direction == "out" else None,
        )
        for row in rows
    ]
    return lines[-TRANSCRIPT_LINES:]
