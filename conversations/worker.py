"""The conversation worker: claims due conversations, runs one turn each, delivers the replies.

A conversation is claimed with a lease, so exactly one worker (in any process) handles it at a
time and its messages are answered in order; different conversations run concurrently up to
``concurrency``. While a turn runs, a heartbeat keeps its lease alive however slow the model
or the provider is, and the lease's fencing token makes sure a worker that lost it (a stalled
process) can neither commit that turn's answer nor release the conversation. Every turn is
bounded by ``turn_timeout``.

Work is found from the database, not from memory, so messages acknowledged before a crash are
answered after the restart. A turn whose handler fails (a model timeout, a 5xx, a malformed tool
call) leaves the shopper's messages pending and is tried again with backoff; see
:mod:`conversations.turn_failures`. The webhook only ``notify``s the worker so it need not wait
for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.adapter import ChannelAdapter
from channels.keywords import ComplianceKeyword, KeywordSet
from channels.messages import ChannelName, InboundKind
from channels.retry import RetryPolicy
from conversations.claims import Claim, claim_due, release, still_held
from conversations.consent_changes import ChannelConsent, apply_keyword, load_channel_consent
from conversations.delivery import (
    Delivery,
    QueuedReply,
    deliver,
    load_queued,
    withhold_all_but_compliance,
    write_delivery,
)
from conversations.handler import (
    ConversationHandler,
    HandBack,
    HumanDecision,
    Reply,
    ThreadNote,
    Turn,
)
from conversations.inbox import CONVERSATIONS, DECISION_KIND, HANDBACK_KIND, MESSAGES
from conversations.outbox import queue_replies
from conversations.thread_notes import answered_message, load_notes
from conversations.turn_failures import FailureOutcome, TurnFailed, record_failure
from conversations.turns import (
    HandlerStep,
    KeywordStep,
    NoticeStep,
    PendingMessage,
    TurnPlan,
    plan_turn,
)
from policy.guardrails import Guardrails, KeywordRules
from policy.responses import respond
from policy.triggers import ATTRIBUTION_WINDOW
from profile_store import clock
from profile_store.database import run_transaction, transaction
from profile_store.leases import Heartbeat, new_token
from profile_store.models import Channel, Customer, MessageStatus

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]

log = structlog.get_logger(__name__)
# After an unexpected error outside the handler (a database blip), look again this much later.
WORKER_ERROR_RETRY = timedelta(seconds=30)


class PipelineConfig(BaseModel):
    burst_window: timedelta = Field(default=timedelta(seconds=1))
    lease: timedelta = Field(
        default=timedelta(seconds=60),
        description="How long a claim holds without a heartbeat (a dead worker's conversations "
        "come back after this); renewed every third of it while the turn runs",
    )
    turn_timeout: timedelta = Field(
        default=timedelta(seconds=120),
        description="The longest a handler may take over one turn before it counts as failed",
    )
    retry_delays: list[timedelta] = Field(
        default_factory=lambda: [timedelta(seconds=20), timedelta(seconds=90)],
        description="Waits before each retry of a failed turn; tries = len + 1",
    )
    concurrency: int = Field(default=32, ge=1)
    poll_seconds: float = Field(default=0.5, gt=0)
    retry: RetryPolicy = RetryPolicy()

    @field_validator("lease", "turn_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @property
    def tries(self) -> int:
        return len(self.retry_delays) + 1


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


@dataclass(frozen=True)
class PendingHandBack:
    id: int
    handback: HandBack


class LeaseLost(Exception):
    """Another worker holds the conversation now: this worker's turn must not be committed."""


@dataclass
class _Answer:
    queued: list[QueuedReply]
    opted_out: bool  # the shopper's state on the channel after the turn
    retry_at: datetime | None = None


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
        self._running_ids: set[str] = set()

    # --- running -------------------------------------------------------------------------

    def notify(self, due_at: datetime | None) -> None:
        """A conversation became due at ``due_at``: wake the loop then rather than at a poll."""
        if self._task is None or due_at is None:
            return
        delay = max((due_at - clock.now()).total_seconds(), 0.0)
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="conversation-worker")

    async def stop(self) -> None:
        """Stop claiming, and let the turns already running finish (their leases are kept
        alive meanwhile), so a graceful stop answers everything it took."""
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
                claims = await self._claim(free, clock.now()) if free > 0 else []
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
        claims = await self._claim(self.config.concurrency, now or clock.now())
        await asyncio.gather(*(self._process(claim, now) for claim in claims))
        return len(claims)

    # --- one conversation ----------------------------------------------------------------

    async def _claim(self, limit: int, now: datetime) -> list[Claim]:
        async with transaction(self.sessions) as session:
            claims = await claim_due(
                await session.connection(),
                now=now,
                limit=limit,
                lease=self.config.lease,
                token=new_token(),
                running=self._running_ids,
            )
        self._running_ids.update(claim.id for claim in claims)
        return claims

    async def _process(self, claim: Claim, now: datetime | None = None) -> None:
        task = asyncio.current_task()
        lost = False

        def on_lost(_: set[object]) -> None:
            nonlocal lost
            lost = True
            if task is not None:
                task.cancel()

        try:
            heartbeat = Heartbeat(
                self.sessions, CONVERSATIONS, claim.token, self.config.lease, on_lost=on_lost
            )
            heartbeat.add([claim.id])
            async with heartbeat:
                try:
                    delivery = await self._work(claim, now or clock.now())
                except LeaseLost:
                    lost = True
                except Exception:
                    log.exception("conversation.failed", conversation_id=claim.id)
                    delivery = Delivery(retry_at=(now or clock.now()) + WORKER_ERROR_RETRY)
            if lost:
                log.warning("conversation.lease_lost", conversation_id=claim.id)
                return
            try:
                await self._release(claim, delivery, now or clock.now())
            except Exception:  # replies' outcomes are already written; the lease just runs out
                log.exception("conversation.release_failed", conversation_id=claim.id)
        except asyncio.CancelledError:
            if not lost:
                raise
            log.warning("conversation.lease_lost", conversation_id=claim.id)
        finally:
            self._running_ids.discard(claim.id)

    async def _work(self, claim: Claim, now: datetime) -> Delivery:
        rules = self.rules()
        # Reads take no write lock (SQLite) and are the same rows the claim protects.
        async with self.readers() as session:
            conn = await session.connection()
            query = select(CONVERSATIONS).where(CONVERSATIONS.c.id == claim.id)
            row = (await conn.execute(query)).one()
            conversation = _Conversation.model_validate(row, from_attributes=True)
            pending = (
                await conn.execute(
                    select(
                        MESSAGES.c.id,
                        MESSAGES.c.kind,
                        MESSAGES.c.text,
                        MESSAGES.c.payload,
                        MESSAGES.c.attempts,
                    )
                    .where(
                        MESSAGES.c.conversation_id == claim.id,
                        MESSAGES.c.direction == "in",
                        MESSAGES.c.status == MessageStatus.PENDING.value,
                    )
                    .order_by(MESSAGES.c.id)
                )
            ).all()
            queued = await load_queued(conn, claim.id)
            locale = await conn.scalar(
                select(CUSTOMERS.c.locale).where(CUSTOMERS.c.id == conversation.customer_id)
            )
            consent = await load_channel_consent(
                session, conversation.customer_id, conversation.channel
            )
            notes = await load_notes(conn, claim.id, now)
        retry_at = None
        opted_out = consent.opted_out
        if pending:
            decisions = [
                PendingDecision(row.id, HumanDecision.model_validate(row.payload))
                for row in pending
                if row.kind == DECISION_KIND
            ]
            handbacks = [
                PendingHandBack(row.id, HandBack.model_validate(row.payload))
                for row in pending
                if row.kind == HANDBACK_KIND
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
                if row.kind not in (DECISION_KIND, HANDBACK_KIND)
            ]
            attempt = max(row.attempts for row in pending) + 1
            answer = await self._answer(
                claim,
                conversation,
                messages,
                decisions,
                attempt,
                rules,
                consent,
                notes,
                now,
                handbacks,
                locale,
            )
            queued += answer.queued
            retry_at = answer.retry_at
            opted_out = answer.opted_out
        withheld: list[dict[str, object]] = []
        if opted_out:  # on a channel the shopper left, only compliance answers go out
            queued, withheld = withhold_all_but_compliance(
                queued, f"opted out on {conversation.channel.value}: not sent"
            )
        delivery = await deliver(
            queued,
            self.adapters,
            self.config.retry,
            channel=conversation.channel,
            address=conversation.address,
            last_inbound_at=conversation.last_inbound_at,
            whatsapp_window=rules.whatsapp_window,
            now=now,
            record=lambda outcome: self._record_delivery(outcome, now),
        )
        delivery.changes += withheld
        if retry_at is not None:
            delivery.retry_at = min(retry_at, delivery.retry_at or retry_at)
        return delivery

    async def _answer(
        self,
        claim: Claim,
        conversation: _Conversation,
        messages: list[PendingMessage],
        decisions: list[PendingDecision],
        attempt: int,
        rules: Guardrails,
        consent: ChannelConsent,
        notes: list[ThreadNote],
        now: datetime,
        handbacks: list[PendingHandBack] | None = None,
        locale: str | None = None,
    ) -> _Answer:
        """Turn the pending messages into queued replies and consent changes, atomically; or,
        when the handler fails, into a retry later. ``notes``: what the thread must also know
        (automated messages, people's replies)."""
        # A decision that comes while a person owns the conversation waits, pending, until the
        # conversation is handed back to the bot, which then resumes what it paused.
        answered = decisions if conversation.owner == "bot" else []
        returned = (handbacks or []) if conversation.owner == "bot" else []
        handled = (
            [message.id for message in messages]
            + [d.id for d in answered]
            + [h.id for h in returned]
        )
        if not handled:
            return _Answer(queued=[], opted_out=consent.opted_out)
        channel = conversation.channel
        keywords = rules.compliance.keywords.for_channel(Channel(channel.value))
        grants_marketing = keywords is not None and keywords.opt_in_grants_marketing
        plan = plan_turn(
            _keyword_set(keywords),
            messages,
            opted_out=consent.opted_out,
            opt_in_always=grants_marketing,
        )
        unanswered = list(plan.unanswered)
        if consent.opted_out or plan.opted_out:  # never an answer around an opt-out
            unanswered += [d.id for d in answered] + [h.id for h in returned]
            answered, returned = [], []
        try:
            replies, keywords_said = await self._replies(
                conversation, plan, messages, answered, attempt, rules, notes, returned, locale
            )
        except TurnFailed as failure:
            error = failure.error

            async def record(session: AsyncSession) -> FailureOutcome:
                conn = await session.connection()
                if not await still_held(conn, claim):
                    raise LeaseLost(claim.id)
                return await record_failure(
                    conn,
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                    message_ids=handled,
                    attempt=attempt,
                    error=error,
                    delays=self.config.retry_delays,
                    rules=rules,
                    now=now,
                )

            outcome = await run_transaction(self.sessions, record, name="turn.failure")
            return _Answer(
                queued=outcome.queued, opted_out=plan.opted_out, retry_at=outcome.retry_at
            )

        async def commit(session: AsyncSession) -> list[QueuedReply]:
            conn = await session.connection()
            if not await still_held(conn, claim):
                raise LeaseLost(claim.id)
            state = consent
            for keyword in keywords_said:
                state = await apply_keyword(
                    session,
                    conversation.customer_id,
                    channel,
                    keyword,
                    state,
                    grants_marketing=grants_marketing,
                    at=now,
                )
            queued = await queue_replies(
                conn,
                conversation_id=conversation.id,
                channel=channel,
                replies=replies,
                key_prefix=f"reply:{conversation.id}:{max(handled)}",
                now=now,
                compliance=plan.opted_out,  # then every reply is a compliance answer
            )
            silenced = set(unanswered)
            for ids, error in (
                ([i for i in handled if i not in silenced], None),
                (unanswered, f"opted out on {channel.value}: not answered"),
            ):
                if ids:
                    await conn.execute(
                        update(MESSAGES)
                        .where(MESSAGES.c.id.in_(ids))
                        .values(status=MessageStatus.HANDLED.value, error=error, updated_at=now)
                    )
            said = any(isinstance(step, HandlerStep) for step in plan.steps)
            if said and (answering := answered_message(notes, ATTRIBUTION_WINDOW, now)):
                await respond(
                    session,
                    customer_id=conversation.customer_id,
                    decision_id=answering.origin.get("decision_id"),
                    channel=channel.value,
                    response="replied",
                    at=now,
                )
            return queued

        queued = await run_transaction(self.sessions, commit, name="turn.answer")
        return _Answer(queued=queued, opted_out=plan.opted_out)

    async def _replies(
        self,
        conversation: _Conversation,
        plan: TurnPlan,
        messages: list[PendingMessage],
        decisions: list[PendingDecision],
        attempt: int,
        rules: Guardrails,
        notes: list[ThreadNote],
        handbacks: list[PendingHandBack] | None = None,
        locale: str | None = None,
    ) -> tuple[list[Reply], list[ComplianceKeyword]]:
        """What to say and which keywords the shopper said; raises :class:`TurnFailed`."""
        channel = conversation.channel
        replies: list[Reply] = []
        consent: list[ComplianceKeyword] = []
        # A decision answers what the handler paused for earlier: before newer messages.
        for pending in decisions:
            turn = self._turn(conversation, [], f"{conversation.id}:{pending.id}", attempt)
            replies.extend(
                await self._ask_handler(turn.model_copy(update={"decision": pending.decision}))
            )
        # Then the bot is back from a person's hand-over, before the shopper's new messages.
        for returned in handbacks or []:
            turn = self._turn(conversation, [], f"{conversation.id}:{returned.id}", attempt)
            replies.extend(
                await self._ask_handler(turn.model_copy(update={"handback": returned.handback}))
            )
        provider_answers = channel is ChannelName.SMS and rules.compliance.sms_provider_replies
        sender_name = next((m.sender_name for m in messages if m.sender_name), None)
        for step in plan.steps:
            if isinstance(step, KeywordStep):
                consent.append(step.keyword)
                if not provider_answers:
                    replies.append(Reply(text=_keyword_reply(step.keyword, rules, locale)))
            elif conversation.owner != "bot":
                continue  # a person has taken this conversation over; the bot stays quiet
            elif isinstance(step, NoticeStep):
                replies.append(Reply(text=step.text))
            elif isinstance(step, HandlerStep):
                turn = self._turn(
                    conversation, step.texts, f"{conversation.id}:{step.first_id}", attempt
                )
                turn.sender_name = sender_name
                turn.notes = notes
                replies.extend(await self._ask_handler(turn))
        return replies, consent

    @staticmethod
    def _turn(conversation: _Conversation, texts: list[str], turn_id: str, attempt: int) -> Turn:
        return Turn(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            address=conversation.address,
            texts=texts,
            turn_id=turn_id,
            attempt=attempt,
        )

    async def _ask_handler(self, turn: Turn) -> list[Reply]:
        try:
            async with asyncio.timeout(self.config.turn_timeout.total_seconds()):
                return await self.handler.handle(turn)
        except TimeoutError as exc:
            raise TurnFailed(
                f"no answer within {self.config.turn_timeout.total_seconds():g} s"
            ) from exc
        except Exception as exc:
            log.warning(
                "conversation.handler_failed",
                conversation_id=turn.conversation_id,
                turn_id=turn.turn_id,
                attempt=turn.attempt,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=True,
            )
            raise TurnFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _record_delivery(self, delivery: Delivery, now: datetime) -> None:
        async def write(session: AsyncSession) -> None:
            await write_delivery(await session.connection(), delivery, now)

        await run_transaction(self.sessions, write, name="reply.outcome")

    async def _release(self, claim: Claim, delivery: Delivery, now: datetime) -> None:
        """Record what was delivered and drop the lease, in one transaction. Delivery outcomes
        are facts (the provider took the message) and are written even if the lease was lost;
        the lease and due time only change while they are still ours."""

        async def write(session: AsyncSession) -> None:
            conn = await session.connection()
            await write_delivery(conn, delivery, now)
            if not await release(conn, claim, delivery.retry_at):
                log.warning("conversation.lease_lost", conversation_id=claim.id)

        await run_transaction(self.sessions, write, name="conversation.release")


def _keyword_set(rules: KeywordRules | None) -> KeywordSet:
    if rules is None:
        return KeywordSet()
    return KeywordSet.of(opt_out=rules.opt_out, opt_in=rules.opt_in, help=rules.help)


def _keyword_reply(keyword: ComplianceKeyword, rules: Guardrails, locale: str | None) -> str:
    """The compliance answer, in the shopper's language when the guardrails have it."""
    return rules.compliance.text(_REPLY_KINDS[keyword], locale)


_REPLY_KINDS: dict[ComplianceKeyword, Literal["opt_out", "opt_in", "help"]] = {
    ComplianceKeyword.OPT_OUT: "opt_out",
    ComplianceKeyword.OPT_IN: "opt_in",
    ComplianceKeyword.HELP: "help",
}
