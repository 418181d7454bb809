"""Reading conversations for the people who watch them: the inbox list and one thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.inbox import CONVERSATIONS, MESSAGES


class ConversationSummary(BaseModel):
    id: str
    customer_id: str
    channel: str
    address: str
    owner: str
    last_inbound_at: datetime | None
    last_text: str | None
    messages: int
    attention: str | None = None  # why a person should look (the bot could not answer)
    attention_at: datetime | None = None


class MessageView(BaseModel):
    id: int
    direction: str
    kind: str
    text: str | None
    status: str
    error: str | None
    created_at: datetime
    author: str | None


class ConversationThread(BaseModel):
    conversation: ConversationSummary
    messages: list[MessageView]


async def list_conversations(
    session: AsyncSession,
    *,
    owner: str | None = None,
    attention: bool | None = None,
    limit: int = 50,
) -> list[ConversationSummary]:
    """Most recently active first; three queries whatever the page size. ``attention``: only
    the ones flagged for a person (True) or not flagged (False)."""
    conn = await session.connection()
    query = (
        select(CONVERSATIONS)
        .order_by(CONVERSATIONS.c.last_inbound_at.desc().nulls_last(), CONVERSATIONS.c.id)
        .limit(limit)
    )
    if owner is not None:
        query = query.where(CONVERSATIONS.c.owner == owner)
    if attention is not None:
        flagged = CONVERSATIONS.c.attention.is_not(None)
        query = query.where(flagged if attention else ~flagged)
    rows = (await conn.execute(query)).all()
    stats = await _message_stats(conn, [row.id for row in rows])
    return [_summary(row, *stats.get(row.id, (0, None))) for row in rows]


async def count_conversations(
    session: AsyncSession, *, owner: str | None = None, attention: bool = False
) -> int:
    conn = await session.connection()
    query = select(func.count()).select_from(CONVERSATIONS)
    if owner is not None:
        query = query.where(CONVERSATIONS.c.owner == owner)
    if attention:
        query = query.where(CONVERSATIONS.c.attention.is_not(None))
    return int(await conn.scalar(query) or 0)


async def read_conversation(
    session: AsyncSession, conversation_id: str, *, limit: int = 200
) -> ConversationThread | None:
    conn = await session.connection()
    row = (
        await conn.execute(select(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id))
    ).first()
    if row is None:
        return None
    messages = (
        await conn.execute(
            select(MESSAGES)
            .where(MESSAGES.c.conversation_id == conversation_id)
            .order_by(MESSAGES.c.id.desc())
            .limit(limit)
        )
    ).all()
    stats = await _message_stats(conn, [conversation_id])
    return ConversationThread(
        conversation=_summary(row, *stats.get(conversation_id, (0, None))),
        messages=[_message(m) for m in reversed(messages)],
    )


def _message(row: Any) -> MessageView:
    payload = row.payload or {}
    return MessageView(
        id=row.id,
        direction=row.direction,
        kind=row.kind,
        text=row.text,
        status=row.status,
        error=row.error,
        created_at=row.created_at,
        author=payload.get("author") if row.direction == "out" else payload.get("sender_name"),
    )


async def _message_stats(
    conn: AsyncConnection, conversation_ids: list[str]
) -> dict[str, tuple[int, str | None]]:
    """Per conversation: how many messages, and the text of the latest."""
    if not conversation_ids:
        return {}
    counts = (
        await conn.execute(
            select(MESSAGES.c.conversation_id, func.count(), func.max(MESSAGES.c.id))
            .where(MESSAGES.c.conversation_id.in_(conversation_ids))
            .group_by(MESSAGES.c.conversation_id)
        )
    ).all()
    texts = dict(
        (
            await conn.execute(
                select(MESSAGES.c.id, MESSAGES.c.text).where(
                    MESSAGES.c.id.in_([last for _, _, last in counts])
                )
            )
        ).all()
    )
    return {cid: (count, texts.get(last)) for cid, count, last in counts}


def _summary(row: Any, messages: int, last_text: str | None) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        customer_id=row.customer_id,
        channel=row.channel,
        address=row.address,
        owner=row.owner,
        last_inbound_at=row.last_inbound_at,
        last_text=last_text,
        messages=messages,
        attention=row.attention,
        attention_at=row.attention_at,
    )
