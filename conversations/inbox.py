"""Accepting an inbound message: resolve the shopper, store the message once, mark the
conversation due. Runs inside the webhook's transaction, before the provider gets its answer.

A retried webhook repeats the provider's id; the unique (channel, provider id) key makes the
second insert a no-op, so the shopper is answered once however often the provider retries.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.messages import InboundKind, InboundMessage
from conversations.handler import HumanDecision
from profile_store.addresses import address_identity
from profile_store.database import insert_ignoring_conflict
from profile_store.identity import resolve_identity
from profile_store.models import Channel, Conversation, Message, MessageStatus, new_id
from profile_store.schemas import CustomerRef

CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]
MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]

# Kinds stored for the record but never answered: an edit of something already answered.
SILENT_KINDS = frozenset({InboundKind.EDITED})


class InboundRejected(ValueError):
    """The message cannot belong to a shopper (for example a sender that is no phone number)."""


class Acceptance(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class Accepted(BaseModel):
    outcome: Acceptance
    conversation_id: str | None = None
    customer_id: str | None = None
    due_at: datetime | None = None
    reason: str | None = None


def customer_ref(message: InboundMessage, default_region: str) -> CustomerRef:
    """The identities this message proves: the sender's identity on the channel (a phone, or on
    WhatsApp also WhatsApp's own user id), plus a phone the shopper shared as their own contact
    (Telegram checks the contact is the sender's)."""
    try:
        kind, value = address_identity(
            Channel(message.channel.value), message.sender_id, default_region
        )
        fields = {kind.value: value}
        if message.contact_phone:
            fields["phone"] = message.contact_phone
        return CustomerRef.model_validate(fields, context={"default_region": default_region})
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        raise InboundRejected(f"sender {message.sender_id!r} is not usable: {problems}") from exc
    except ValueError as exc:
        raise InboundRejected(f"sender {message.sender_id!r} is not usable: {exc}") from exc


async def accept_inbound(
    session: AsyncSession,
    message: InboundMessage,
    *,
    now: datetime,
    burst_window: timedelta,
    default_region: str,
) -> Accepted:
    if message.kind is InboundKind.GROUP:
        return Accepted(outcome=Acceptance.IGNORED, reason="group chats are not answered")
    conn = await session.connection()
    seen = await conn.scalar(
        select(MESSAGES.c.conversation_id).where(
            MESSAGES.c.channel == message.channel.value,
            MESSAGES.c.provider_message_id == message.provider_message_id,
        )
    )
    if seen is not None:
        return Accepted(outcome=Acceptance.DUPLICATE, conversation_id=seen)

    customer = await resolve_identity(
        session,
        customer_ref(message, default_region),
        reason=f"inbound:{message.channel.value}",
    )
    conversation = await _conversation(conn, message, customer.id, now)
    silent = message.kind in SILENT_KINDS
    inserted = await conn.scalar(
        insert_ignoring_conflict(conn, MESSAGES, ["channel", "provider_message_id"])
        .values(
            conversation_id=conversation.id,
            channel=message.channel.value,
            direction="in",
            kind=message.kind.value,
            provider_message_id=message.provider_message_id,
            text=message.text,
            payload=message.model_dump(mode="json", exclude={"text"}),
            status=(MessageStatus.HANDLED if silent else MessageStatus.PENDING).value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(MESSAGES.c.id)
    )
    if inserted is None:  # a concurrent retry of the same webhook won the race
        return Accepted(outcome=Acceptance.DUPLICATE, conversation_id=conversation.id)
    due_at = conversation.due_at
    if not silent:
        # Debounce: each message in a burst pushes the turn to the end of the window.
        due_at = now + burst_window
        if conversation.due_at is not None and conversation.due_at > due_at:
            due_at = conversation.due_at
    await conn.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation.id)
        .values(
            last_inbound_at=now,
            due_at=due_at,
            customer_id=customer.id,
        )
    )
    return Accepted(
        outcome=Acceptance.NEW,
        conversation_id=conversation.id,
        customer_id=customer.id,
        due_at=due_at if not silent else None,
    )


DECISION_KIND = "decision"
HANDBACK_KIND = "handback"  # a person handed the conversation back (conversations.ownership)


async def accept_decision(
    session: AsyncSession, conversation_id: str, decision: HumanDecision, *, now: datetime
) -> datetime | None:
    """Queue a person's decision on the conversation and make it due now; the due time, or
    None if this decision was queued before (deciding twice answers once)."""
    conn = await session.connection()
    channel = await conn.scalar(
        select(CONVERSATIONS.c.channel).where(CONVERSATIONS.c.id == conversation_id)
    )
    if channel is None:
        raise ValueError(f"no conversation {conversation_id!r}")
    inserted = await conn.scalar(
        insert_ignoring_conflict(conn, MESSAGES, ["channel", "provider_message_id"])
        .values(
            conversation_id=conversation_id,
            channel=channel,
            direction="in",
            kind=DECISION_KIND,
            provider_message_id=f"decision:{decision.request_id}",
            text=None,
            payload=decision.model_dump(mode="json"),
            status=MessageStatus.PENDING.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(MESSAGES.c.id)
    )
    if inserted is None:
        return None
    await make_due(conn, conversation_id, now)
    return now


async def make_due(conn: AsyncConnection, conversation_id: str, now: datetime) -> None:
    """Have the worker look at the conversation now (unless it is already due sooner)."""
    await conn.execute(
        update(CONVERSATIONS)
        .where(
            CONVERSATIONS.c.id == conversation_id,
            (CONVERSATIONS.c.due_at.is_(None)) | (CONVERSATIONS.c.due_at > now),
        )
        .values(due_at=now)
    )


class _ConversationRow(BaseModel):
    id: str
    due_at: datetime | None


async def _conversation(
    conn: AsyncConnection, message: InboundMessage, customer_id: str, now: datetime
) -> _ConversationRow:
    await conn.execute(
        insert_ignoring_conflict(conn, CONVERSATIONS, ["channel", "address"]).values(
            id=new_id("cnv"),
            customer_id=customer_id,
            channel=message.channel.value,
            address=message.address,
            owner="bot",
            created_at=now,
        )
    )
    row = (
        await conn.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.due_at).where(
                CONVERSATIONS.c.channel == message.channel.value,
                CONVERSATIONS.c.address == message.address,
            )
        )
    ).one()
    return _ConversationRow(id=row.id, due_at=row.due_at)
