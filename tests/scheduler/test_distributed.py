"""The procrastinate backend on the real PostgreSQL: two workers, each send dispatched once; a dead
worker's job is put back; a stopped worker finishes what it holds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import load_guardrails
from profile_store.clock import ShiftedClock
from profile_store.database import transaction
from scheduler import distributed
from scheduler.distributed import MAX_ATTEMPTS, DistributedScheduler
from scheduler.embedded import SENDS
from tests.channels.conftest import BOT_TOKEN, TG_SECRET
from tests.fake_providers.server import serve
from tests.fake_providers.telegram_api import FakeTelegramApi
from tests.scheduler.test_workers import NOW, SlowDispatcher, seed

ROOT = Path(__file__).resolve().parents[2]


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


async def test_a_job_left_doing_by_a_dead_worker_is_retried_and_frees_the_customer(
    pair: tuple[list[DistributedScheduler], Counter[str]],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    workers, counts = pair
    await seed(sessions, 1)
    async with transaction(sessions) as session:  # a second send for the same customer
        conn = await session.connection()
        first = (await conn.execute(select(SENDS))).one()._asdict()
        second = {"id": "snd_second", "idempotency_key": "k:second", "purpose": "transactional"}
        await conn.execute(insert(SENDS).values({**first, **second}))
    assert await workers[0].send_due(NOW) == 2
    # A worker takes the first job and dies (SIGKILL, power loss): the job stays 'doing', its
    # heartbeat stops, and the customer's lock is held.
    manager = workers[0].app.job_manager
    dead = await manager.register_worker()
    job = await manager.fetch_job(None, dead)
    assert job is not None
    async with transaction(sessions) as session:
        conn = await session.connection()
        await conn.execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes' "
                "WHERE id = :id"
            ),
            {"id": dead},
        )
    await workers[1].open()
    await workers[1].app.run_worker_async(concurrency=2, wait=False, install_signal_handlers=False)
    assert counts == Counter()  # blocked behind the dead worker's lock
    assert await workers[1].retry_stalled_jobs() == 1
    # One at a time: the customer's lock lets the second job run only after the first.
    await workers[1].app.run_worker_async(concurrency=1, wait=False, install_signal_handlers=False)
    assert sorted(counts) == sorted([first["id"], "snd_second"]) and set(counts.values()) == {1}
    assert await statuses(sessions) == {"sent": 2}


async def test_sigterm_lets_the_worker_finish_the_send_in_hand(
    postgres_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    telegram = FakeTelegramApi(delay=3.0)  # a slow API: the send is in flight at SIGTERM
    await seed(sessions, 1, channel="telegram")
    async with serve(telegram.app) as telegram_url:
        env = os.environ | {
            "CHATCOMMERCE_DATABASE_URL": postgres_url.replace("+psycopg", ""),
            "CHATCOMMERCE_SCHEDULER": "procrastinate",
            "CHATCOMMERCE_DATA_DIR": str(tmp_path),
            "CHATCOMMERCE_WRITE_KEY": "k",
            "CHATCOMMERCE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "CHATCOMMERCE_TELEGRAM_API_URL": telegram_url,
            "CHATCOMMERCE_SCHEDULER_POLL_SECONDS": "0.2",
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "worker", env=env, cwd=ROOT
        )
        try:
            for _ in range(600):  # the worker starts (imports take a few seconds) and sends
                if telegram.calls:
                    break
                await asyncio.sleep(0.05)
            assert telegram.calls, "the worker never called the Telegram API"
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), 30) == 0
        finally:
            if worker.returncode is None:
                worker.kill()
    assert [c.method for c in telegram.calls] == ["sendMessage"]
    assert await statuses(sessions) == {"sent": 1}
    async with sessions() as session:
        conn = await session.connection()
        jobs = (await conn.execute(text("SELECT status FROM procrastinate_jobs"))).scalars()
        assert list(jobs) == ["succeeded"]
