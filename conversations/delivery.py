"""Delivering a conversation's queued replies in order, each through its channel adapter.

Replies are written as ``queued`` rows before any provider call, so a crash between the turn
and the send loses nothing: the next worker finds them queued. Each outcome is committed as
soon as it is known. A reply that still fails after the adapter's retries stays queued with a
backoff and holds back the replies after it, so the shopper never reads them out of order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.adapter import ChannelAdapter
from channels.messages import ChannelName, OutboundMessage, ProductCard, SendResult
from channels.retry import RetryPolicy, send_with_retry
from conversations.inbox import MESSAGES
from profile_store.database import transaction
from profile_store.models import MessageStatus

log = structlog.get_logger(__name__)
MAX_DELIVERY_ATTEMPTS = 5


def redelivery_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2**attempts, 600))


async def deliver_queued(
    sessions: async_sessionmaker[AsyncSession],
    adapters: Mapping[ChannelName, ChannelAdapter],
    retry: RetryPolicy,
    *,
    conversation_id: str,
    channel: ChannelName,
    address: str,
    last_inbound_at: datetime | None,
    whatsapp_window: timedelta,
    now: datetime,
) -> datetime | None:
    """Send what is queued; returns when to try again if something must wait, else None."""
    async with sessions() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(
                    MESSAGES.c.id,
                    MESSAGES.c.idempotency_key,
                    MESSAGES.c.text,
                    MESSAGES.c.payload,
                    MESSAGES.c.attempts,
                )
                .where(
                    MESSAGES.c.conversation_id == conversation_id,
                    MESSAGES.c.direction == "out",
                    MESSAGES.c.status == MessageStatus.QUEUED.value,
                )
                .order_by(MESSAGES.c.id)
            )
        ).all()
    adapter = adapters.get(channel)
    for row in rows:
        if adapter is None:
            result = SendResult(ok=False, error=f"channel {channel.value} is not configured")
        elif channel is ChannelName.WHATSAPP and (
            last_inbound_at is None or now - last_inbound_at >= whatsapp_window
        ):
            # Free text on WhatsApp only within the window after the shopper's last message.
            result = SendResult(
                ok=False,
                error="whatsapp_outside_window: free text needs a message from the shopper "
                "in the last 24 hours",
                error_code="whatsapp_outside_window",
            )
        else:
            outbound = OutboundMessage(
                channel=channel,
                address=address,
                idempotency_key=row.idempotency_key,
                text=row.text or "",
                cards=[ProductCard.model_validate(card) for card in row.payload.get("cards", [])],
            )
            result = await send_with_retry(adapter, outbound, retry)
        retry_at = await _record(sessions, row.id, row.attempts, row.payload, result, now)
        if retry_at is not None:
            return retry_at
    return None


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    message_id: int,
    attempts: int,
    payload: dict[str, object],
    result: SendResult,
    now: datetime,
) -> datetime | None:
    attempts += 1
    values: dict[str, object] = {"attempts": attempts, "updated_at": now}
    retry_at = None
    if result.ok:
        values |= {
            "status": MessageStatus.SENT.value,
            "provider_message_id": result.provider_message_id,
            "payload": payload | {"provider_message_ids": result.provider_message_ids},
            "error": None,
        }
    elif result.retryable and attempts < MAX_DELIVERY_ATTEMPTS:
        retry_at = now + redelivery_delay(attempts)
        values |= {"error": (result.error or "")[:1000]}
    else:
        values |= {"status": MessageStatus.FAILED.value, "error": (result.error or "")[:1000]}
        log.warning("reply.failed", message_id=message_id, error=result.error)
    async with transaction(sessions) as session:
        conn = await session.connection()
        await conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(**values))
    return retry_at
