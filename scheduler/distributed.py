"""The distributed backend: procrastinate jobs on PostgreSQL send the due sends.

``scheduled_sends`` stays the source of truth (the decision log and eligibility read it). A
relay, running in every worker, claims due sends with a lease and defers one procrastinate job
per send, with the customer as the job's ``lock`` so one customer's sends never run at the same
time on two machines (caps count each other). Workers anywhere run the jobs; retries back off
exponentially, and a job that exhausts them is a dead letter (``failed`` in
``procrastinate_jobs``), its send marked failed with the reason. A relay that dies after the
claim loses nothing: the lease ends and the send is relayed again; ``queueing_lock`` keeps a
send from being queued twice.

A job takes the send's lease over with its own fencing token and keeps it alive with a
heartbeat while the provider answers. A worker process that dies in the middle of a job (killed,
or stopped without a graceful shutdown) leaves the job ``doing`` and its customer's lock held;
procrastinate's worker heartbeats tell such stalled jobs apart, and every relay puts them back
in the queue (``retry_job``), which frees the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from policy.products import ProductLookup
from profile_store import clock
from profile_store.database import transaction
from profile_store.leases import new_token
from profile_store.models import Channel
from scheduler.dispatch import Dispatcher
from scheduler.embedded import SENDS, EmbeddedScheduler
from scheduler.links import TrackedLinks
from scheduler.sender import SEND_LEASE, process_sends

log = structlog.get_logger(__name__)
TASK = "chatcommerce.send"
MAX_ATTEMPTS = 5
RELAY_LEASE = timedelta(minutes=10)
# How often a relay looks for jobs of dead workers, and how long a worker may go without a
# heartbeat (procrastinate's default interval is 10 s) before its jobs count as stalled.
STALLED_CHECK = timedelta(seconds=30)
STALLED_AFTER_SECONDS = 60.0


def libpq_url(sqlalchemy_url: str) -> str:
    """procrastinate speaks psycopg directly: drop SQLAlchemy's driver suffix."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


class DistributedScheduler(EmbeddedScheduler):
    """Timers fire as in the embedded backend (claimed with SKIP LOCKED); sends go through
    procrastinate."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dispatcher: Dispatcher,
        rules: Callable[[], Guardrails],
        database_url: str,
        *,
        poll_seconds: float = 0.2,
        batch: int = 200,
        worker_concurrency: int = 16,
        lease: timedelta = SEND_LEASE,
        channels: frozenset[Channel] | None = None,
        products: ProductLookup | None = None,
        links: TrackedLinks | None = None,
        graceful_timeout: float = 30.0,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        super().__init__(
            sessions,
            dispatcher,
            rules,
            poll_seconds=poll_seconds,
            batch=batch,
            lease=lease,
            channels=channels,
            products=products,
            links=links,
            readers=readers,
        )
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
        self._worker_concurrency = worker_concurrency
        self._graceful_timeout = graceful_timeout
        self._worker: asyncio.Task[None] | None = None
        self._opened = False
        self._stalled_checked_at: datetime | None = None

        @self.app.task(
            name=TASK,
            pass_context=True,
            retry=RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2),
        )
        async def send(context: JobContext, send_id: str) -> None:
            await self.run_job(send_id, attempt=context.job.attempts)

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    def start(self) -> None:
        async def run() -> None:
            await self.open()
            await self.app.run_worker_async(
                concurrency=self._worker_concurrency,
                wait=True,
                install_signal_handlers=False,
                name="chatcommerce",
                shutdown_graceful_timeout=self._graceful_timeout,
            )

        self._worker = asyncio.create_task(run(), name="procrastinate-worker")
        super().start()

    async def stop(self, graceful_seconds: float = 30.0) -> None:
        """Stop relaying; the procrastinate worker finishes the jobs it runs (up to the
        graceful timeout) and unregisters, so nothing it held looks stalled afterwards."""
        await super().stop(graceful_seconds)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def send_due(self, now: datetime) -> int:
        """Relay: claim due sends and defer a job for each; put stalled jobs back first."""
        await self.open()
        if self._stalled_checked_at is None or now - self._stalled_checked_at >= STALLED_CHECK:
            self._stalled_checked_at = now
            await self.retry_stalled_jobs()
        # Several sends of one customer may be relayed together: the job lock orders them.
        due = await self.claim_sends(now, new_token(), RELAY_LEASE, one_per_customer=False)
        if not due:
            return 0
        task = self.app.tasks[TASK]
        customers = await self._customers(due)
        for send_id in due:
            # Relayed before and still waiting: the queued job will send it.
            with contextlib.suppress(AlreadyEnqueued):
                await task.configure(
                    lock=f"customer:{customers[send_id]}", queueing_lock=f"send:{send_id}"
                ).defer_async(send_id=send_id)
        return len(due)

    async def retry_stalled_jobs(
        self, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS
    ) -> int:
        """Jobs left ``doing`` by workers that stopped sending heartbeats go back to the queue;
        the number put back."""
        manager = self.app.job_manager
        stalled = list(
            await manager.get_stalled_jobs(
                task_name=TASK, seconds_since_heartbeat=seconds_since_heartbeat
            )
        )
        if not stalled:
            return 0
        # Due now by the database's clock, which is the one procrastinate's workers fetch by:
        # this process's clock may run ahead of it (skew, or a test clock), and a job put back
        # "now" by a clock that is ahead waits that long.
        async with self._sessions() as session:
            conn = await session.connection()
            database_now = await conn.scalar(text("SELECT now()"))
        for job in stalled:
            log.warning("send_job.stalled", job_id=job.id, args=job.task_kwargs, lock=job.lock)
            await manager.retry_job(job, retry_at=database_now)
        return len(stalled)

    async def _customers(self, send_ids: list[str]) -> dict[str, str]:
        async with self._sessions() as session:
            conn = await session.connection()
            rows = await conn.execute(
                SENDS.select()
                .with_only_columns(SENDS.c.id, SENDS.c.customer_id)
                .where(SENDS.c.id.in_(send_ids))
            )
            return {row.id: row.customer_id for row in rows}

    async def run_job(self, send_id: str, *, attempt: int = 0) -> None:
        """One job: take the send's lease over and send it if it is still to be sent; the last
        failed attempt marks it failed."""
        now = clock.now()
        token = new_token()
        try:
            async with transaction(self._sessions) as session:
                conn = await session.connection()
                taken = await conn.scalar(
                    update(SENDS)
                    .where(SENDS.c.id == send_id, SENDS.c.status == "sending")
                    .values(lease_token=token, lease_until=now + self._lease, updated_at=now)
                    .returning(SENDS.c.id)
                )
            if taken is None:
                return  # sent, suppressed or cancelled meanwhile
            await process_sends(
                self._sessions,
                [send_id],
                self._dispatcher,
                self._rules(),
                now,
                token=token,
                lease=self._lease,
                products=self._products,
                links=self._links,
                copywriter=self.copywriter,
            )
        except Exception as exc:
            if attempt + 1 >= MAX_ATTEMPTS:
                async with transaction(self._sessions) as session:
                    conn = await session.connection()
                    await conn.execute(
                        update(SENDS)
                        .where(SENDS.c.id == send_id, SENDS.c.status == "sending")
                        .values(
                            status="failed",
                            last_error=f"dead letter: {type(exc).__name__}: {exc}"[:1000],
                            lease_until=None,
                            lease_token=None,
                            updated_at=now,
                        )
                    )
            raise
