"""The procrastinate backend on the real PostgreSQL: two workers, each send dispatched once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import load_guardrails
from profile_store.clock import ShiftedClock
from scheduler import distributed
from scheduler.distributed import MAX_ATTEMPTS, DistributedScheduler
from scheduler.embedded import SENDS
from tests.scheduler.test_workers import NOW, SlowDispatcher, seed


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("procrastinate runs on PostgreSQL only")
    return database_url


@pytest.fixture
async def pair(
    postgres_url: str, sessions: async_sessionmaker[AsyncSession], test_clock: ShiftedClock
) -> AsyncIterator[tuple[list[DistributedScheduler], Counter[str]]]:
    test_clock.set(NOW)
    counts: Counter[str] = Counter()
    rules = load_guardrails()
    workers = [
        DistributedScheduler(
            sessions,
            SlowDispatcher(counts),
            lambda: rules,
            postgres_url.replace("postgresql://", "postgresql+psycopg://"),
            batch=50,
        )
        for _ in range(2)
    ]
    yield workers, counts
    for worker in workers:
        await worker.stop()


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        conn = await session.connection()
        rows = await conn.execute(select(SENDS.c.status, func.count()).group_by(SENDS.c.status))
        return {row[0]: row[1] for row in rows}


async def test_two_procrastinate_workers_send_each_due_send_once(
    pair: tuple[list[DistributedScheduler], Counter[str]],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    workers, counts = pair
    await seed(sessions, 300)
    # Both relays claim concurrently; SKIP LOCKED splits the due sends between them.
    relayed = await asyncio.gather(*(w.send_due(NOW) for w in workers))
    while more := sum(await asyncio.gather(*(w.send_due(NOW) for w in workers))):
        relayed = [relayed[0] + more, relayed[1]]
    assert sum(relayed) == 300
    # Two procrastinate workers drain the queue (wait=False: stop when it is empty).
    await asyncio.gather(
        *(
            w.app.run_worker_async(concurrency=4, wait=False, install_signal_handlers=False)
            for w in workers
        )
    )
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert await statuses(sessions) == {"sent": 300}


async def test_a_send_relayed_twice_is_queued_once(
    pair: tuple[list[DistributedScheduler], Counter[str]],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    workers, counts = pair
    await seed(sessions, 3)
    assert await workers[0].send_due(NOW) == 3
    # The relay's lease ran out before a worker got to the jobs: relayed again, not re-queued.
    later = NOW + distributed.RELAY_LEASE * 2
    assert await workers[1].send_due(later) == 3
    await workers[0].app.run_worker_async(concurrency=2, wait=False, install_signal_handlers=False)
    assert sorted(counts.values()) == [1, 1, 1]


async def test_a_job_that_keeps_failing_is_a_dead_letter_and_its_send_failed(
    pair: tuple[list[DistributedScheduler], Counter[str]],
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers, _ = pair
    await seed(sessions, 1)
    await workers[0].send_due(NOW)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(distributed, "process_sends", broken)
    async with sessions() as session:
        conn = await session.connection()
        send_id = str(await conn.scalar(select(SENDS.c.id)))
    with pytest.raises(RuntimeError):
        await workers[0].run_job(send_id, attempt=0)
    assert await statuses(sessions) == {"sending": 1}  # retried later by procrastinate
    with pytest.raises(RuntimeError):
        await workers[0].run_job(send_id, attempt=MAX_ATTEMPTS - 1)
    async with sessions() as session:
        conn = await session.connection()
        row = (await conn.execute(select(SENDS.c.status, SENDS.c.last_error))).one()
    assert row.status == "failed" and "dead letter: RuntimeError" in row.last_error
