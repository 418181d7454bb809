"""The embedded backend: in-process async workers over the durable tables.

Two loops share one poll: due trigger timers become decisions (and sends), due sends are
claimed with a lease and sent. Both survive restarts: a timer is marked fired in the same
transaction as its decision, and a send whose worker died is picked up again once its lease ends
(a heartbeat keeps the lease of a live worker's sends, however slow the provider).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.action_choice import ProgramEvidence, load_program_evidence
from policy.copywriting import CopyWriter
from policy.decide import decide
from policy.guardrails import Guardrails
from policy.local_time import customer_zone
from policy.next_best_action import DEFAULT_PRIORS, BetaPrior, population_prior
from policy.products import ProductLookup
from policy.send_time import HourProfile, shop_hours
from policy.triggers import arm_win_back
from policy.variants import load_variant_stats
from policy.watches import follow_up_terms
from profile_store import clock
from profile_store.database import run_transaction, transaction
from profile_store.leases import claim_statement, new_token
from profile_store.models import (
    Channel,
    Customer,
    CustomerTraits,
    Identity,
    IdentityKind,
    ScheduledSend,
    TriggerTimer,
)
from profile_store.scoring.discount_logit import LogitParams
from profile_store.scoring.store import live_params
from profile_store.write_lock import DatabaseBusy
from scheduler.dispatch import Dispatcher
from scheduler.links import TrackedLinks
from scheduler.sender import SEND_LEASE, process_sends
from scheduler.store import schedule

log = structlog.get_logger(__name__)
TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
TRAITS = CustomerTraits.__table__  # type: ignore[attr-defined]
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
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
        lease: timedelta = SEND_LEASE,
        concurrency: int = 32,
        rng: random.Random | None = None,
        channels: frozenset[Channel] | None = None,
        products: ProductLookup | None = None,
        links: TrackedLinks | None = None,
        copywriter: CopyWriter | None = None,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """``channels``: the channels this deployment can send on (None: any, for tests with a
        recording dispatcher); only those are candidates when deciding. ``products``: the
        catalog, for what messages show. ``links``: product links become tracked short links."""
        self._sessions = sessions
        self._readers = readers or sessions
        self._dispatcher = dispatcher
        self._rules = rules
        self._poll = poll_seconds
        self._batch = batch
        self._lease = lease
        self._concurrency = concurrency
        self._rng = rng or random.Random()
        self._channels = channels
        self._products = products
        self._links = links
        self.copywriter = copywriter  # set by the app once a model is configured
        self._variant_stats: dict[tuple[str, str], tuple[int, int]] = {}
        self._evidence: dict[str, ProgramEvidence] = {}
        self._priors: dict[Channel, BetaPrior] = dict(DEFAULT_PRIORS)
        self._priors_at: datetime | None = None
        self._shop_hours: HourProfile | None = None
        self._discount_model: LogitParams | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._swept_at: datetime | None = None

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="embedded-scheduler")

    async def stop(self, graceful_seconds: float = 30.0) -> None:
        """Finish the round in progress (sends handed to a provider are recorded, not left to a
        lease that would send them again), then stop; cancel after ``graceful_seconds``."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), graceful_seconds)
        except TimeoutError:
            log.warning("scheduler.stop_timeout", seconds=graceful_seconds)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("scheduler.loop_failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)

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
            except DatabaseBusy:
                # Nothing was committed: the timer is still pending and fires at the next round.
                log.warning("trigger.busy", timer_id=timer_id)
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
        async def fire(session: AsyncSession) -> None:
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
                channels=self._channels,
                products=self._products,
                details_of_trigger=dict(claimed.details or {}),
                variant_stats=self._variant_stats,
                evidence=self._evidence,
                shop_hours=self._shop_hours,
                discount_model=self._discount_model,
                **follow_up_terms(claimed.details),
            )
            if plan.verdict == "scheduled":
                await schedule(session, plan, idempotency_key=f"timer:{timer_id}")

        await run_transaction(self._sessions, fire, name="trigger.fire")

    def due_sends(self, now: datetime, *, one_per_customer: bool = True) -> Select[Any]:
        """Ids of pending sends that are due, and of claimed ones whose lease ran out.

        ``one_per_customer``: only each customer's earliest due send, and none for a customer
        with a send out now, so caps and suppressions see each send's outcome before the next.
        """
        candidate = SENDS.alias("candidate")

        def due(sends: Any) -> Any:
            return or_(
                (sends.c.status == "pending") & (sends.c.due_at <= now),
                (sends.c.status == "sending") & (sends.c.lease_until < now),
            )

        query = select(candidate.c.id).where(due(candidate))
        if one_per_customer:
            same, busy = SENDS.alias("same_customer"), SENDS.alias("in_flight")
            earliest = (
                select(same.c.id)
                .where(same.c.customer_id == candidate.c.customer_id, due(same))
                .order_by(same.c.due_at, same.c.id)
                .limit(1)
                .scalar_subquery()
            )
            in_flight = exists().where(
                busy.c.customer_id == candidate.c.customer_id,
                busy.c.status == "sending",
                busy.c.lease_until >= now,
            )
            query = query.where(candidate.c.id == earliest, ~in_flight)
        return query.order_by(candidate.c.due_at, candidate.c.id).limit(self._batch)

    async def claim_sends(
        self, now: datetime, token: str, lease: timedelta, *, one_per_customer: bool = True
    ) -> list[str]:
        """Lease due sends to ``token`` in one statement; their ids, oldest first."""
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            rows = await conn.execute(
                claim_statement(
                    SENDS,
                    self.due_sends(now, one_per_customer=one_per_customer),
                    token=token,
                    until=now + lease,
                    values={"status": "sending", "updated_at": now},
                ).returning(SENDS.c.id, SENDS.c.due_at)
            )
            return [row.id for row in sorted(rows, key=lambda r: (r.due_at, r.id))]

    async def send_due(self, now: datetime) -> int:
        """Claim due sends, at most one per customer per round (caps count each other), and
        send them as one batch."""
        token = new_token()
        claimed = await self.claim_sends(now, token, self._lease)
        if claimed:
            await process_sends(
                self._sessions,
                claimed,
                self._dispatcher,
                self._rules(),
                now,
                token=token,
                lease=self._lease,
                concurrency=self._concurrency,
                products=self._products,
                links=self._links,
                copywriter=self.copywriter,
            )
        return len(claimed)

    async def _refresh_priors(self, now: datetime) -> None:
        if self._priors_at is not None and now - self._priors_at < PRIOR_REFRESH:
            return
        self._priors_at = now
        async with self._readers() as session:  # a read: no write lock, not in the writers' queue
            conn = await session.connection()
            rows = (
                await conn.execute(
                    select(TRAITS.c.data, CUSTOMERS.c.timezone, _any_phone().label("phone"))
                    .join(CUSTOMERS, CUSTOMERS.c.id == TRAITS.c.customer_id)
                    .order_by(TRAITS.c.updated_at.desc())
                    .limit(PRIOR_SAMPLE)
                )
            ).all()
            everyone = [row.data.get("channel_engagement", {}) for row in rows]
            self._variant_stats = await load_variant_stats(session, now)
            self._evidence = await load_program_evidence(session, now)
            self._discount_model = (await live_params(conn)).discount
        default_zone = self._rules().quiet_hours.default_timezone
        # Zones (phone numbers parsed where none is stored) and a fit over up to PRIOR_SAMPLE
        # customers: a few hundred ms, off the event loop.
        self._shop_hours = await asyncio.to_thread(_shop_hours, rows, default_zone, now)
        self._priors = population_prior(everyone)


def _shop_hours(rows: Sequence[Any], default_zone: str, now: datetime) -> HourProfile | None:
    return shop_hours(
        (
            (
                row.data.get("engagement_hours") or [0] * 24,
                customer_zone(row.timezone, row.phone, default_zone),
            )
            for row in rows
        ),
        now,
    )


def _any_phone() -> Any:
    """One of the customer's phone numbers: where no timezone is stored, the zone the decision
    will use comes from it, and the shop's hours must be counted in that same zone."""
    return (
        select(func.min(IDENTITIES.c.value))
        .where(
            IDENTITIES.c.customer_id == TRAITS.c.customer_id,
            IDENTITIES.c.kind == IdentityKind.PHONE.value,
        )
        .scalar_subquery()
    )
