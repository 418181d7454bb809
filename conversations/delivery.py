"""Delivering a conversation's queued replies in order, each through its channel adapter.

Replies are written as ``queued`` rows before any provider call, so a crash between the turn
and the send loses nothing: the next worker finds them queued. Outcomes are written together
with the conversation's release, one transaction per turn. A reply that still fails after the
adapter's retries stays queued with a backoff and holds back the replies after it, so the
shopper never reads them out of order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.adapter import ChannelAdapter
from channels.messages import ChannelName, OutboundMessage, ProductCard, SendResult
from channels.retry import RetryPolicy, send_with_retry
from conversations.inbox import MESSAGES
from profile_store.models import MessageStatus

log = structlog.get_logger(__name__)
MAX_DELIVERY_ATTEMPTS = 5
# Payload flag of a reply to a compliance keyword (STOP, HELP): the only replies delivered on a
# channel the shopper has opted out of.
COMPLIANCE = "compliance"


def redelivery_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2**attempts, 600))


@dataclass(frozen=True)
class QueuedReply:
    id: int
    idempotency_key: str
    text: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class Delivery:
    """What delivering a conversation's queue produced: row changes and when to try again."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    retry_at: datetime | None = None


async def load_queued(conn: AsyncConnection, conversation_id: str) -> list[QueuedReply]:
    rows = await conn.execute(
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
    return [
        QueuedReply(row.id, row.idempotency_key, row.text or "", row.payload, row.attempts)
        for row in rows
    ]


def withhold_all_but_compliance(
    replies: list[QueuedReply], reason: str
) -> tuple[list[QueuedReply], list[dict[str, Any]]]:
    """For a channel the shopper opted out of: the compliance answers to deliver, and the
    changes that fail every other queued reply with ``reason`` (it must never go out later)."""
    kept = [reply for reply in replies if reply.payload.get(COMPLIANCE) is True]
    failed = [
        {
            "b_id": reply.id,
            "b_attempts": reply.attempts,
            "b_status": MessageStatus.FAILED.value,
            "b_provider_message_id": None,
            "b_payload": reply.payload,
            "b_error": reason,
        }
        for reply in replies
        if reply.payload.get(COMPLIANCE) is not True
    ]
    if failed:
        log.info("reply.withheld", count=len(failed), reason=reason)
    return kept, failed


async def deliver(
    replies: list[QueuedReply],
    adapters: Mapping[ChannelName, ChannelAdapter],
    retry: RetryPolicy,
    *,
    channel: ChannelName,
    address: str,
    last_inbound_at: datetime | None,
    whatsapp_window: timedelta,
    now: datetime,
    record: Callable[[Delivery], Awaitable[None]] | None = None,
) -> Delivery:
    """``record``: called with each reply's outcome as soon as the provider answers, so a
    worker killed between two replies does not send the first one again."""
    delivery = Delivery()
    adapter = adapters.get(channel)
    for reply in replies:
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
                idempotency_key=reply.idempotency_key,
                text=reply.text,
                cards=[ProductCard.model_validate(c) for c in reply.payload.get("cards", [])],
                from_person=reply.payload.get("author") is not None,
            )
            result = await send_with_retry(adapter, outbound, retry)
        delivery.retry_at = _outcome(delivery, reply, result, now)
        if record is not None:
            await record(Delivery(changes=[delivery.changes.pop()]))
        if delivery.retry_at is not None:
            break
    return delivery


def _outcome(
    delivery: Delivery, reply: QueuedReply, result: SendResult, now: datetime
) -> datetime | None:
    attempts = reply.attempts + 1
    change: dict[str, Any] = {
        "b_id": reply.id,
        "b_attempts": attempts,
        "b_status": MessageStatus.QUEUED.value,
        "b_provider_message_id": None,
        "b_payload": reply.payload,
        "b_error": (result.error or "")[:1000] or None,
    }
    retry_at = None
    if result.ok:
        change |= {
            "b_status": MessageStatus.SENT.value,
            "b_provider_message_id": result.provider_message_id,
            "b_payload": reply.payload | {"provider_message_ids": result.provider_message_ids},
        }
    elif result.retryable and attempts < MAX_DELIVERY_ATTEMPTS:
        retry_at = now + redelivery_delay(attempts)
    else:
        change["b_status"] = MessageStatus.FAILED.value
        log.warning("reply.failed", message_id=reply.id, error=result.error)
    delivery.changes.append(change)
    return retry_at


async def write_delivery(conn: AsyncConnection, delivery: Delivery, now: datetime) -> None:
    if not delivery.changes:
        return
    await conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            provider_message_id=bindparam("b_provider_message_id"),
            payload=bindparam("b_payload"),
            error=bindparam("b_error"),
            updated_at=now,
        ),
        delivery.changes,
    )
