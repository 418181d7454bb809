"""A person answering in a conversation they took over, through the same delivery path.

The reply is queued like the bot's (durable before any provider call, delivered in order by the
conversation worker, retried, its outcome recorded), so a human answer is never lost either.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.inbox import CONVERSATIONS, MESSAGES, make_due
from profile_store.models import MessageStatus


class NotTakenOver(ValueError):
    """Only a conversation a person owns may get a person's reply: never two voices at once."""


async def queue_human_reply(
    session: AsyncSession, conversation_id: str, text: str, *, author: str, now: datetime
) -> int | None:
    """The queued message's id; None if there is no such conversation."""
    conn = await session.connection()
    row = (
        await conn.execute(
            select(CONVERSATIONS.c.channel, CONVERSATIONS.c.owner).where(
                CONVERSATIONS.c.id == conversation_id
            )
        )
    ).first()
    if row is None:
        return None
    if row.owner != "human":
        raise NotTakenOver("take the conversation over before replying as a person")
    message_id = await conn.scalar(
        MESSAGES.insert()
        .values(
            conversation_id=conversation_id,
            channel=row.channel,
            direction="out",
            kind="text",
            idempotency_key=f"human:{uuid.uuid4().hex}",
            text=text,
            payload={"author": author, "cards": []},
            status=MessageStatus.QUEUED.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(MESSAGES.c.id)
    )
    await make_due(conn, conversation_id, now)
    return int(message_id)
