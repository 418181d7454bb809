"""The embedded backend: in-process async workers over the durable tables.

Two loops share one poll: due trigger timers become decisions (and sends), due sends are
claimed with a lease and sent. Both survive restarts: a timer is marked fired in the same
transaction as its decision, and a send whose worker died is picked up again once its lease ends.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.decide import decide
from policy.guardrails import Guardrails
from policy.next_best_action import DEFAULT_PRIORS, BetaPrior, population_prior
from policy.triggers import arm_win_back
from policy.watches import follow_up_terms
from profile_store import clock
from profile_store.database import transaction
from profile_store.models import Channel, CustomerTraits, ScheduledSend, TriggerTimer
from scheduler.dispatch import Dispatcher
from scheduler.sender import process_sends
from scheduler.store import schedule

log = structlog.get_logger(__name__)
TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
TRAITS = CustomerTraits.__table__  # type: ignore[attr-defined]
PRIOR_SAMPLE = 20_000
PRIOR_REFRESH = timedelta(minutes=10)
WIN_BACK_SWEEP = timedelta(minutes=1)


class EmbeddedScheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dispatcher: Dispatcher,
        rules: Callable[[], Guardrails],
        *,
        poll_seconds: float = 0.2,
        batch: int = 200,
        lease: timedelta = timedelta(minutes=2),
        concurrency: int = 32,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._rules = rules
        self._poll = poll_seconds
        self._batch = batch
        self._lease = lease
        self._concurrency = concurrency
        self._rng = rng or random.Random()
        self._priors: dict[Channel, BetaPrior] = dict(DEFAULT_PRIORS)
        self._priors_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._swept_at: datetime | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="embedded-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("scheduler.loop_failed")
                busy = 0
            if not busy:
                await asyncio.sleep(self._poll)

    async def run_once(self, now: datetime | None = None) -> int:
        """Fire due timers, then send due sends; the number of items handled."""
        now = now or clock.now()
        await self._refresh_priors(now)
        fired = await self.fire_due_timers(now)
        sent = await self.send_due(now)
        return fired + sent

    async def fire_due_timers(self, now: datetime) -> int:
        if self._swept_at is None or now - self._swept_at >= WIN_BACK_SWEEP:
            self._swept_at = now
            async with transaction(self._sessions) as session:
                await arm_win_back(session, self._rules(), now)
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            due = (
                (
                    await conn.execute(
                        select(TIMERS.c.id)
                        .where(TIMERS.c.status == "pending", TIMERS.c.fire_at <= now)
                        .order_by(TIMERS.c.fire_at)
                        .limit(self._batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
        for timer_id in due:
            try:
                await self._fire(timer_id, now)
            except Exception:
                log.exception("trigger.failed", timer_id=timer_id)
                async with transaction(self._sessions) as session:
                    conn = await session.connection()
                    await conn.execute(
                        update(TIMERS)
                        .where(TIMERS.c.id == timer_id)
                        .values(status="error", fired_at=now)
                    )
        return len(due)

    async def _fire(self, timer_id: int, now: datetime) -> None:
        # Claim, decide and schedule in one transaction: a crash leaves the timer pending.
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            claimed = (
                await conn.execute(
                    update(TIMERS)
                    .where(TIMERS.c.id == timer_id, TIMERS.c.status == "pending")
                    .values(status="fired", fired_at=now)
                    .returning(
                        TIMERS.c.customer_id, TIMERS.c.kind, TIMERS.c.product_ids, TIMERS.c.details
                    )
                )
            ).first()
            if claimed is None:
                return
            plan = await decide(
                session,
                customer_id=claimed.customer_id,
                trigger=claimed.kind,
                product_ids=list(claimed.product_ids),
                rules=self._rules(),
                now=now,
                rng=self._rng,
                priors=self._priors,
                **follow_up_terms(claimed.details),
            )
            if plan.verdict == "scheduled":
                await schedule(session, plan, idempotency_key=f"timer:{timer_id}")

    def due_sends(self, now: datetime) -> Select[Any]:
        """Pending sends that are due, and claimed ones whose worker's lease ran out."""
        return (
            select(SENDS.c.id, SENDS.c.customer_id)
            .where(
                or_(
                    (SENDS.c.status == "pending") & (SENDS.c.due_at <= now),
                    (SENDS.c.status == "sending") & (SENDS.c.lease_until < now),
                )
            )
            .order_by(SENDS.c.due_at, SENDS.c.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )

    async def send_due(self, now: datetime) -> int:
        """Claim due sends, at most one per customer per round (caps count each other), and
        send them as one batch."""
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            due = (await conn.execute(self.due_sends(now))).all()
            first_per_customer = list({row.customer_id: row.id for row in reversed(due)}.values())
            if first_per_customer:
                await conn.execute(
                    update(SENDS)
                    .where(SENDS.c.id.in_(first_per_customer))
                    .values(status="sending", lease_until=now + self._lease, updated_at=now)
                )
        if first_per_customer:
            await process_sends(
                self._sessions,
                first_per_customer,
                self._dispatcher,
                self._rules(),
                now,
                concurrency=self._concurrency,
            )
        return len(first_per_customer)

    async def _refresh_priors(self, now: datetime) -> None:
        if self._priors_at is not None and now - self._priors_at < PRIOR_REFRESH:
            return
        self._priors_at = now
        async with self._sessions() as session:
            conn = await session.connection()
            rows = await conn.execute(
                select(TRAITS.c.data).order_by(TRAITS.c.updated_at.desc()).limit(PRIOR_SAMPLE)
            )
            everyone = [row.data.get("channel_engagement", {}) for row in rows]
        self._priors = population_prior(everyone)
