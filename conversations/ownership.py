"""Who answers a conversation: the bot, or a person who took it over."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.inbox import CONVERSATIONS


class Owner(StrEnum):
    BOT = "bot"
    HUMAN = "human"


async def set_owner(session: AsyncSession, conversation_id: str, owner: Owner) -> bool:
    """False if there is no such conversation."""
    conn = await session.connection()
    result = await conn.execute(
        update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(owner=owner)
    )
    return result.rowcount == 1
