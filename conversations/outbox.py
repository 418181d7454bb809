"""Writing a conversation's outbound replies as queued rows, once per idempotency key.

Queued before any provider call, in the transaction that decides them, so a crash between the
decision and the send loses nothing and a retried turn writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from channels.messages import ChannelName
from conversations.delivery import COMPLIANCE, QueuedReply
from conversations.handler import Reply
from conversations.inbox import MESSAGES
from profile_store.database import insert_ignoring_conflict
from profile_store.models import MessageStatus


async def queue_replies(
    conn: AsyncConnection,
    *,
    conversation_id: str,
    channel: ChannelName,
    replies: list[Reply],
    key_prefix: str,
    now: datetime,
    compliance: bool = False,
) -> list[QueuedReply]:
    """Queue each reply with text or cards under ``{key_prefix}:{index}``; returns the ones
    that were new (a key written before is not queued again). ``compliance`` marks them as
    answers to a compliance keyword, which go out even on a channel the shopper opted out of."""
    queued: list[QueuedReply] = []
    for index, reply in enumerate(r for r in replies if r.text or r.cards):
        key = f"{key_prefix}:{index}"
        payload: dict[str, Any] = {"cards": [card.model_dump(mode="json") for card in reply.cards]}
        if compliance:
            payload[COMPLIANCE] = True
        reply_id = await conn.scalar(
            insert_ignoring_conflict(conn, MESSAGES, ["idempotency_key"])
            .values(
                conversation_id=conversation_id,
                channel=channel.value,
                direction="out",
                kind="cards" if reply.cards else "text",
                idempotency_key=key,
                text=reply.text,
                payload=payload,
                status=MessageStatus.QUEUED.value,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .returning(MESSAGES.c.id)
        )
        if reply_id is not None:
            queued.append(QueuedReply(reply_id, key, reply.text, payload, 0))
    return queued
