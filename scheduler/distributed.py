"""The distributed backend: procrastinate jobs on PostgreSQL send the due sends.

``scheduled_sends`` stays the source of truth (the decision log and eligibility read it). A
relay, running in every worker, claims due sends with a lease and defers one procrastinate job
per send, with the customer as the job's ``lock`` so one customer's sends never run at the same
time on two machines (caps count each other). Workers anywhere run the jobs; retries back off
exponentially, and a job that exhausts them is a dead letter (``failed`` in
``procrastinate_jobs``), its send marked failed with the reason. A relay that dies after the
claim loses nothing: the lease ends and the send is relayed again; ``queueing_lock`` keeps a
send from being queued twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from profile_store import clock
from profile_store.database import transaction
from scheduler.dispatch import Dispatcher
from scheduler.embedded import SENDS, EmbeddedScheduler
from scheduler.sender import process_sends

log = structlog.get_logger(__name__)
TASK = "chatcommerce.send"
MAX_ATTEMPTS = 5
RELAY_LEASE = timedelta(minutes=10)


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
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        super().__init__(sessions, dispatcher, rules, poll_seconds=poll_seconds, batch=batch)
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
        self._worker_concurrency = worker_concurrency
        self._worker: asyncio.Task[None] | None = None
        self._opened = False
        self._clock = clock

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
            )

        self._worker = asyncio.create_task(run(), name="procrastinate-worker")
        super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def send_due(self, now: datetime) -> int:
        """Relay: claim due sends and defer a job for each."""
        await self.open()
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            due = (await conn.execute(self.due_sends(now))).all()
            if due:
                await conn.execute(
                    update(SENDS)
                    .where(SENDS.c.id.in_([row.id for row in due]))
                    .values(status="sending", lease_until=now + RELAY_LEASE, updated_at=now)
                )
        task = self.app.tasks[TASK]
        for row in due:
            # Relayed before and still waiting: the queued job will send it.
            with contextlib.suppress(AlreadyEnqueued):
                await task.configure(
                    lock=f"customer:{row.customer_id}", queueing_lock=f"send:{row.id}"
                ).defer_async(send_id=row.id)
        return len(due)

    async def run_job(self, send_id: str, *, attempt: int = 0) -> None:
        """One job: send it if it is still claimed; the last failed attempt marks it failed."""
        now = self._clock()
        try:
            await process_sends(self._sessions, [send_id], self._dispatcher, self._rules(), now)
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
                            updated_at=now,
                        )
                    )
            raise
