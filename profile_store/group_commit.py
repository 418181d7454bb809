"""Group commit for event ingestion.

Concurrent requests' batches are written in one shared transaction: a commit (with its fsync
at checkpoints) and the per-statement overhead are paid once per group instead of once per
request. A request still gets its own all-or-nothing outcome: if a group fails, each request in
it is retried alone, so one bad batch never fails its neighbours. A database that stays locked
fails the whole group at once (:class:`DatabaseBusy`, a 503 for each request): the lock is the
same for every request, and retrying them one by one would only wait again for each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import run_transaction
from profile_store.ingest import StoredEvents, ValidatedEvent, ingest_events
from profile_store.schemas import IngestResult
from profile_store.write_lock import DatabaseBusy

log = structlog.get_logger(__name__)

# Another process writing the same new identity or event id first makes our insert fail (on
# PostgreSQL: a unique violation, or a deadlock between the two); the retry then finds its rows
# and treats them as existing. A locked SQLite is retried by run_transaction, not here.
RACE_RETRIES = 3


@dataclass(slots=True)
class _Request:
    events: Sequence[ValidatedEvent]
    done: asyncio.Future[IngestResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# Called in the same transaction with each newly stored event and its customer id, so work
# derived from events (trigger timers) is as durable as the events themselves.
OnStored = Callable[[AsyncSession, list[tuple[ValidatedEvent, str]]], Awaitable[None]]


class GroupCommitWriter:
    """The single writer of a process's events; ``submit`` returns once they are committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_group_events: int = 2000,
        on_stored: OnStored | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_stored = on_stored
        self._max = max_group_events
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-group-commit")

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        if self._task is not None and not self._task.done():
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, events: Sequence[ValidatedEvent]) -> IngestResult:
        if self._task is None or self._task.done():
            raise RuntimeError("the event writer is not running")
        request = _Request(events)
        self._queue.put_nowait(request)
        # Shielded: a client that hangs up does not cancel a write other requests share.
        return await asyncio.shield(request.done)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].events)
            while not self._queue.empty() and size < self._max:
                group.append(self._queue.get_nowait())
                size += len(group[-1].events)
            try:
                await self._write(group)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _write(self, group: list[_Request]) -> None:
        try:
            stored = await self._ingest([e for request in group for e in request.events])
        except DatabaseBusy as exc:
            for request in group:
                if not request.done.done():
                    request.done.set_exception(exc)
            return
        except Exception as exc:
            if len(group) > 1:
                for request in group:  # find the culprit: everyone else still succeeds
                    await self._write([request])
            elif not group[0].done.done():
                group[0].done.set_exception(exc)
            return
        start = 0
        for request in group:
            stop = start + len(request.events)
            if not request.done.done():
                request.done.set_result(stored.result(start, stop))
            start = stop

    async def _ingest(self, events: list[ValidatedEvent]) -> StoredEvents:
        async def store(session: AsyncSession) -> StoredEvents:
            stored = await ingest_events(session, events)
            if self._on_stored is not None:
                await self._on_stored(session, stored.fresh(events))
            return stored

        for attempt in range(1, RACE_RETRIES + 1):
            try:
                return await run_transaction(self._sessions, store, name="events.ingest")
            except DatabaseBusy:
                raise
            except (IntegrityError, OperationalError) as exc:
                if attempt == RACE_RETRIES:
                    raise
                log.info("events.retry", attempt=attempt, error=type(exc).__name__)
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")
