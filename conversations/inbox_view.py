"""Reading conversations for the people who watch them: the inbox list and one thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
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
    session: AsyncSession, *, owner: str | None = None, limit: int = 50
) -> list[ConversationSummary]:
    """Most recently active first."""
    conn = await session.connection()
    query = (
        select(CONVERSATIONS)
        .order_by(CONVERSATIONS.c.last_inbound_at.desc().nulls_last(), CONVERSATIONS.c.id)
        .limit(limit)
    )
    if owner is not None:
        query = query.where(CONVERSATIONS.c.owner == owner)
    rows = (await conn.execute(query)).all()
    return [await _summary(session, row) for row in rows]


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
    return ConversationThread(
        conversation=await _summary(session, row),
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


async def _summary(session: AsyncSession, row: Any) -> ConversationSummary:
    conn = await session.connection()
    count, last_id = (
        await conn.execute(
            select(func.count(), func.max(MESSAGES.c.id)).where(
                MESSAGES.c.conversation_id == row.id
            )
        )
    ).one()
    last_text = None
    if last_id is not None:
        last_text = await conn.scalar(select(MESSAGES.c.text).where(MESSAGES.c.id == last_id))
    return ConversationSummary(
        id=row.id,
        customer_id=row.customer_id,
        channel=row.channel,
        address=row.address,
        owner=row.owner,
        last_inbound_at=row.last_inbound_at,
        last_text=last_text,
        messages=count,
    )
