"""Who answers a conversation: the bot, or a person who took it over."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.inbox import CONVERSATIONS, make_due


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
        await make_due(conn, conversation_id, now)
    return str(before)
