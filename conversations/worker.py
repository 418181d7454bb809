"""The conversation worker: claims due conversations, runs one turn each, delivers the replies.

A conversation is claimed with a lease, so exactly one worker (in any process) handles it at a
time and its messages are answered in order; different conversations run concurrently up to
``concurrency``. Work is found from the database, not from memory, so messages acknowledged
before a crash are answered after the restart. The webhook only ``notify``s the worker so it
need not wait for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.adapter import ChannelAdapter
from channels.keywords import ComplianceKeyword
from channels.messages import ChannelName, InboundKind
from channels.retry import RetryPolicy
from conversations.consent_changes import set_channel_consent
from conversations.delivery import (
    Delivery,
    QueuedReply,
    deliver,
    load_queued,
    write_delivery,
)
from conversations.handler import ConversationHandler, HumanDecision, Reply, Turn
from conversations.inbox import CONVERSATIONS, DECISION_KIND, MESSAGES
from conversations.turns import HandlerStep, KeywordStep, NoticeStep, PendingMessage, plan_turn
from policy.guardrails import Guardrails
from profile_store.database import insert_ignoring_conflict, transaction
from profile_store.models import ConsentStatus, MessageStatus

log = structlog.get_logger(__name__)
HANDLER_FAILED = "Sorry, something went wrong on our side. Please try again in a moment."


class PipelineConfig(BaseModel):
    burst_window: timedelta = Field(default=timedelta(seconds=1))
    lease: timedelta = Field(default=timedelta(seconds=60))
    concurrency: int = Field(default=32, ge=1)
    poll_seconds: float = Field(default=0.5, gt=0)
    retry: RetryPolicy = RetryPolicy()


class _Conversation(BaseModel):
    id: str
    customer_id: str
    channel: ChannelName
    address: str
    owner: str
    last_inbound_at: datetime | None


@dataclass(frozen=True)
class PendingDecision:
    id: int
    decision: HumanDecision


class _Claim(BaseModel):
    id: str
    due_at: datetime


class ConversationWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        adapters: Mapping[ChannelName, ChannelAdapter],
        handler: ConversationHandler,
        rules: Callable[[], Guardrails],
        config: PipelineConfig,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.readers = readers or sessions
        self.adapters = adapters
        self.handler = handler
        self.rules = rules
        self.config = config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    # --- running -------------------------------------------------------------------------

    def notify(self, due_at: datetime | None) -> None:
        """A conversation became due at ``due_at``: wake the loop then rather than at a poll."""
        if self._task is None or due_at is None:
            return
        delay = max((due_at - datetime.now(UTC)).total_seconds(), 0.0)
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="conversation-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            # Cleared before looking, so a wake-up that comes while we look is not lost.
            self._wake.clear()
            try:
                free = self.config.concurrency - len(self._running)
                claims = await self._claim(free, datetime.now(UTC)) if free > 0 else []
                for claim in claims:
                    task = asyncio.create_task(self._process(claim))
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if claims:
                    continue
            except Exception:
                log.exception("conversation_worker.error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim what is due now and process it; returns how many conversations (for tests)."""
        claims = await self._claim(self.config.concurrency, now or datetime.now(UTC))
        await asyncio.gather(*(self._process(claim, now) for claim in claims))
        return len(claims)

    # --- one conversation ----------------------------------------------------------------

    async def _claim(self, limit: int, now: datetime) -> list[_Claim]:
        free = or_(CONVERSATIONS.c.lease_until.is_(None), CONVERSATIONS.c.lease_until < now)
        async with transaction(self.sessions) as session:
            conn = await session.connection()
            rows = (
                await conn.execute(
                    select(CONVERSATIONS.c.id, CONVERSATIONS.c.due_at)
                    .where(CONVERSATIONS.c.due_at <= now, free)
                    .order_by(CONVERSATIONS.c.due_at)
                    .limit(limit)
                )
            ).all()
            claims = []
            for row in rows:
                taken = await conn.execute(
                    update(CONVERSATIONS)
                    .where(CONVERSATIONS.c.id == row.id, CONVERSATIONS.c.due_at <= now, free)
                    .values(lease_until=now + self.config.lease)
                )
                if taken.rowcount == 1:
                    claims.append(_Claim(id=row.id, due_at=row.due_at))
        return claims

    async def _process(self, claim: _Claim, now: datetime | None = None) -> None:
        delivery = Delivery()
        try:
            delivery = await self._work(claim.id, now or datetime.now(UTC))
        except Exception:
            log.exception("conversation.failed", conversation_id=claim.id)
            delivery.retry_at = (now or datetime.now(UTC)) + timedelta(seconds=30)
        finally:
            await self._release(claim, delivery, now or datetime.now(UTC))

    async def _work(self, conversation_id: str, now: datetime) -> Delivery:
        rules = self.rules()
        # Reads take no write lock (SQLite) and are the same rows the claim protects.
        async with self.readers() as session:
            conn = await session.connection()
            query = select(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id)
            row = (await conn.execute(query)).one()
            conversation = _Conversation.model_validate(row, from_attributes=True)
            pending = (
                await conn.execute(
                    select(MESSAGES.c.id, MESSAGES.c.kind, MESSAGES.c.text, MESSAGES.c.payload)
                    .where(
                        MESSAGES.c.conversation_id == conversation_id,
                        MESSAGES.c.direction == "in",
                        MESSAGES.c.status == MessageStatus.PENDING.value,
                    )
                    .order_by(MESSAGES.c.id)
                )
            ).all()
            queued = await load_queued(conn, conversation_id)
        if pending:
            decisions = [
                PendingDecision(row.id, HumanDecision.model_validate(row.payload))
                for row in pending
                if row.kind == DECISION_KIND
            ]
            messages = [
                PendingMessage(
                    id=row.id,
                    kind=InboundKind(row.kind),
                    text=row.text,
                    contact_phone=row.payload.get("contact_phone"),
                    sender_name=row.payload.get("sender_name"),
                )
                for row in pending
                if row.kind != DECISION_KIND
            ]
            queued += await self._answer(conversation, messages, decisions, rules, now)
        return await deliver(
            queued,
            self.adapters,
            self.config.retry,
            channel=conversation.channel,
            address=conversation.address,
            last_inbound_at=conversation.last_inbound_at,
            whatsapp_window=rules.whatsapp_window,
            now=now,
        )

    async def _answer(
        self,
        conversation: _Conversation,
        messages: list[PendingMessage],
        decisions: list[PendingDecision],
        rules: Guardrails,
        now: datetime,
    ) -> list[QueuedReply]:
        """Turn the pending messages into queued replies and consent changes, atomically."""
        channel = conversation.channel
        replies: list[Reply] = []
        consent: list[ComplianceKeyword] = []
        if conversation.owner == "bot":
            # A decision answers what the handler paused for earlier: before newer messages.
            for pending in decisions:
                replies.extend(
                    await self._ask_handler(conversation, HandlerStep(), [], pending.decision)
                )
        provider_answers = channel is ChannelName.SMS and rules.compliance.sms_provider_replies
        for step in plan_turn(channel, messages):
            if isinstance(step, KeywordStep):
                consent.append(step.keyword)
                if not provider_answers:
                    replies.append(Reply(text=_keyword_reply(step.keyword, rules)))
            elif conversation.owner != "bot":
                continue  # a person has taken this conversation over; the bot stays quiet
            elif isinstance(step, NoticeStep):
                replies.append(Reply(text=step.text))
            elif isinstance(step, HandlerStep):
                replies.extend(await self._ask_handler(conversation, step, messages))
        # A decision that comes while a person owns the conversation waits, pending, until the
        # conversation is handed back to the bot, which then resumes what it paused.
        answered = decisions if conversation.owner == "bot" else []
        handled = [message.id for message in messages] + [d.id for d in answered]
        if not handled:
            return []
        last_id = max(handled)
        queued: list[QueuedReply] = []
        async with transaction(self.sessions) as session:
            for keyword in consent:
                if keyword is not ComplianceKeyword.HELP:
                    status = (
                        ConsentStatus.REVOKED
                        if keyword is ComplianceKeyword.OPT_OUT
                        else ConsentStatus.GRANTED
                    )
                    await set_channel_consent(
                        session,
                        conversation.customer_id,
                        channel,
                        status,
                        source=f"keyword:{channel.value}",
                        at=now,
                    )
            conn = await session.connection()
            for index, reply in enumerate(r for r in replies if r.text or r.cards):
                key = f"reply:{conversation.id}:{last_id}:{index}"
                payload = {"cards": [card.model_dump(mode="json") for card in reply.cards]}
                reply_id = await conn.scalar(
                    insert_ignoring_conflict(conn, MESSAGES, ["idempotency_key"])
                    .values(
                        conversation_id=conversation.id,
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
            await conn.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(handled))
                .values(status=MessageStatus.HANDLED.value, updated_at=now)
            )
        return queued

    async def _ask_handler(
        self,
        conversation: _Conversation,
        step: HandlerStep,
        messages: list[PendingMessage],
        decision: HumanDecision | None = None,
    ) -> list[Reply]:
        turn = Turn(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            address=conversation.address,
            texts=step.texts,
            sender_name=next((m.sender_name for m in messages if m.sender_name), None),
            decision=decision,
        )
        try:
            return await self.handler.handle(turn)
        except Exception:
            log.exception("conversation.handler_failed", conversation_id=turn.conversation_id)
            return [Reply(text=HANDLER_FAILED)]

    async def _release(self, claim: _Claim, delivery: Delivery, now: datetime) -> None:
        """Record what was delivered and drop the lease, in one transaction. The conversation
        stays due only if a message arrived meanwhile (the webhook moved ``due_at``) or a reply
        must be retried."""
        retry_at = delivery.retry_at
        async with transaction(self.sessions) as session:
            conn = await session.connection()
            await write_delivery(conn, delivery, now)
            await conn.execute(
                update(CONVERSATIONS)
                .where(CONVERSATIONS.c.id == claim.id, CONVERSATIONS.c.due_at == claim.due_at)
                .values(due_at=retry_at, lease_until=None)
            )
            moved = and_(CONVERSATIONS.c.id == claim.id, CONVERSATIONS.c.due_at != claim.due_at)
            if retry_at is not None:
                await conn.execute(
                    update(CONVERSATIONS)
                    .where(moved, CONVERSATIONS.c.due_at > retry_at)
                    .values(due_at=retry_at)
                )
            await conn.execute(update(CONVERSATIONS).where(moved).values(lease_until=None))


def _keyword_reply(keyword: ComplianceKeyword, rules: Guardrails) -> str:
    replies = rules.compliance
    return {
        ComplianceKeyword.OPT_OUT: replies.opt_out,
        ComplianceKeyword.OPT_IN: replies.opt_in,
        ComplianceKeyword.HELP: replies.help,
    }[keyword]
