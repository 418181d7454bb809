"""SQLite's single write lock, held by another connection: what waits, what is tried again, and
what gives up (503, not 500). SQLite only; every lock is held and released explicitly."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from profile_store.database import (
    BUSY_ATTEMPTS,
    create_engine,
    run_transaction,
    session_factory,
    transaction,
)
from profile_store.group_commit import GroupCommitWriter
from profile_store.ingest import ValidatedEvent, validate_events
from profile_store.write_lock import DatabaseBusy, is_busy
from tests.databases import SqliteTemplate
from tests.profile_store.events import event as shop_event
from tests.sqlite_lock import Retries, first_of, sqlite_path, write_lock_held

BUDGET = 0.3  # seconds a writer waits for the lock in these tests


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    return sqlite_template.create(tmp_path)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sqlite_busy_timeout_seconds": BUDGET})


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, busy_timeout=BUDGET)
    yield engine
    await engine.dispose()


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> Retries:
    return Retries(monkeypatch)


def rollback_journal_database(tmp_path: Path) -> str:
    """A file SQLite has never switched to WAL (made by another tool, or restored)."""
    path = tmp_path / "fresh.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE probe (n INTEGER)")
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


async def insert_probe(session: AsyncSession, n: int = 1) -> None:
    conn = await session.connection()
    await conn.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})


def probes(url: str) -> list[int]:
    with sqlite3.connect(sqlite_path(url)) as conn:
        rows = [n for (n,) in conn.execute("SELECT n FROM probe ORDER BY rowid")]
    conn.close()
    return rows


async def make_probe_table(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        await (await session.connection()).execute(text("CREATE TABLE probe (n INTEGER)"))


async def test_connecting_while_another_connection_writes_waits_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Before any switch to WAL, asking for it while another connection writes failed the new
    # connection at once, busy timeout or not; now the connection waits its turn to write.
    url = rollback_journal_database(tmp_path)
    engine = create_engine(url, busy_timeout=30)
    connected = asyncio.Event()
    event.listen(engine.sync_engine, "connect", lambda *_: connected.set())
    try:
        with write_lock_held(url) as lock:

            async def write() -> None:
                async with transaction(session_factory(engine)) as session:
                    await insert_probe(session)

            writing = asyncio.create_task(write())
            await first_of(writing, connected.wait())
            await asyncio.sleep(0.2)
            assert not writing.done(), writing.exception()  # waiting, not failed
            lock.release()
            await writing
        assert probes(url) == [1]
        await engine.dispose()
        async with engine.connect() as conn:  # the next new connection finds nobody writing
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await engine.dispose()


async def test_a_connection_waits_no_longer_than_its_budget_even_for_its_first_statement(
    tmp_path: Path,
) -> None:
    url = rollback_journal_database(tmp_path)
    engine = create_engine(url, busy_timeout=BUDGET)
    try:
        with write_lock_held(url, exclusive=True):  # not even reads may start
            started = time.monotonic()
            with pytest.raises(OperationalError) as raised:
                async with engine.connect():
                    pass
            waited = time.monotonic() - started
        assert is_busy(raised.value)
        assert waited < 3.0  # the driver's own default would have been 5 s
    finally:
        await engine.dispose()


async def test_a_unit_of_work_still_locked_after_the_busy_timeout_is_run_again(
    engine: AsyncEngine, database_url: str, retries: Retries
) -> None:
    sessions = session_factory(engine)
    await make_probe_table(sessions)
    with write_lock_held(database_url) as lock:
        writing = asyncio.create_task(run_transaction(sessions, insert_probe, name="probe"))
        await first_of(writing, retries.first.wait())
        assert not writing.done(), writing.exception()
        lock.release()  # after one whole busy timeout: what a single try could not survive
        await writing
    assert retries.attempts == [1]
    assert probes(database_url) == [1]


async def test_a_unit_of_work_locked_for_every_try_gives_up_with_database_busy(
    engine: AsyncEngine, database_url: str, retries: Retries
) -> None:
    sessions = session_factory(engine)
    await make_probe_table(sessions)
    with write_lock_held(database_url), pytest.raises(DatabaseBusy) as raised:
        await run_transaction(sessions, insert_probe, name="probe")
    assert len(retries.attempts) == BUSY_ATTEMPTS - 1
    assert is_busy(raised.value) and "probe tried 3 times" in str(raised.value)
    assert probes(database_url) == []


async def test_writers_waiting_for_the_lock_leave_pooled_connections_to_readers(
    database_url: str,
) -> None:
    # Every waiting writer used to hold a pooled connection (and its thread) while it polled
    # the lock; with as many writers as connections, reads waited for the pool too.
    engine = create_engine(
        database_url, busy_timeout=30, pool_size=2, max_overflow=0, pool_timeout=2
    )
    sessions, readers = session_factory(engine), session_factory(engine, read_only=True)
    try:
        await make_probe_table(sessions)

        async def write(n: int) -> None:
            async with transaction(sessions) as session:
                await insert_probe(session, n)

        with write_lock_held(database_url) as lock:
            writers = [asyncio.create_task(write(n)) for n in range(3)]
            await asyncio.sleep(0.3)
            async with readers() as session:
                conn = await session.connection()
                assert (await conn.execute(text("SELECT count(*) FROM probe"))).scalar() == 0
            assert not any(w.done() for w in writers)
            lock.release()
            await asyncio.gather(*writers)
        assert probes(database_url) == [0, 1, 2]  # and in the order they asked
    finally:
        await engine.dispose()


async def test_readiness_does_not_wait_for_the_write_lock(
    client: httpx.AsyncClient, database_url: str
) -> None:
    with write_lock_held(database_url):
        ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_events_api_answers_503_with_retry_after_while_the_database_stays_locked(
    client: httpx.AsyncClient, database_url: str, retries: Retries
) -> None:
    body = shop_event("product_viewed", {"phone": "+15551230001"}, product_id="p-1")
    with write_lock_held(database_url):
        busy = await client.post("/v1/events", json=body)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "database is busy" in busy.json()["detail"]
    assert len(retries.attempts) == BUSY_ATTEMPTS - 1
    assert (await client.get("/v1/profiles/+15551230001")).status_code == 404
    again = await client.post("/v1/events", json=body)  # the sender's retry loses nothing
    assert again.status_code == 200 and again.json()["accepted"] == 1


async def test_a_locked_group_of_event_requests_fails_together_without_trying_each_alone(
    engine: AsyncEngine, database_url: str, retries: Retries
) -> None:
    writer = GroupCommitWriter(session_factory(engine))
    tried: list[list[str]] = []
    ingest = writer._ingest
    started = asyncio.Event()

    async def watched(events: list[ValidatedEvent]) -> Any:
        tried.append([e.event.event_id for e in events])
        started.set()
        return await ingest(events)

    writer._ingest = watched  # type: ignore[method-assign]
    writer.start()
    try:
        with write_lock_held(database_url):
            first = asyncio.create_task(writer.submit(batch(0)))
            await started.wait()  # the first group is waiting for the lock; the rest queue up
            rest = [asyncio.create_task(writer.submit(batch(n))) for n in range(1, 4)]
            outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
        assert all(isinstance(o, DatabaseBusy) for o in outcomes), outcomes
        ids = [event_id for group in tried for event_id in group]
        assert len(tried) == 2 and len(ids) == len(set(ids)) == 4  # two groups, each tried once
    finally:
        await writer.stop()


def batch(n: int) -> list[ValidatedEvent]:
    raw = shop_event("product_viewed", {"phone": f"+1555123{n:04d}"}, n, product_id="p")
    return list(validate_events([raw], default_region="US"))
