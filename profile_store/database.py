"""Async engine and session factory for SQLite (default) or PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import structlog
from sqlalchemy import Engine, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.write_lock import DatabaseBusy, WriterQueue, is_busy

log = structlog.get_logger(__name__)
T = TypeVar("T")
READ_ONLY = "chatcommerce_read_only"
# How long a statement waits for SQLite's write lock (and a writer for its turn in this
# process): long enough for a loaded machine, short enough that a stuck writer shows.
DEFAULT_BUSY_TIMEOUT_SECONDS = 10.0
# A unit of work that still finds the database locked is run this many times in all.
BUSY_ATTEMPTS = 3
_writer_queues: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def _sqlite_tuner(busy_timeout: float) -> Callable[[Any, Any], None]:
    def tune(dbapi_connection: Any, _record: Any) -> None:
        # The busy timeout comes first: every later statement may meet another writer's lock.
        # The driver's own transaction handling is switched off so that _begin decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        # WAL lets readers run beside the single writer. It is a property of the file, set once:
        # switching a file that another connection is writing fails at once, whatever the busy
        # timeout (SQLite will not wait to upgrade a read lock), so such a connection goes on
        # without it and a later connection makes the switch.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] != "wal":
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                log.info("sqlite.wal_switch_deferred", reason=str(exc))
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return tune


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _begin(conn: Any) -> None:
    # Writers take the lock up front: a deferred transaction that upgrades to a writer can fail
    # at once with "database is locked" when another process writes, whatever the busy timeout.
    # Readers begin deferred, so in WAL mode they never wait for a writer.
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(
    url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS, **kwargs: Any
) -> AsyncEngine:
    """An engine on ``url``; on SQLite, a writer waits up to ``busy_timeout`` seconds for its
    turn in this process and as long again for other processes' writers."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The driver sets the busy timeout as it opens the file, before any statement runs.
        kwargs["connect_args"] = {"timeout": busy_timeout, **kwargs.get("connect_args", {})}
    engine = create_async_engine(
        url,
        pool_pre_ping=not is_sqlite,
        # Traits are JSON-heavy; orjson is several times faster than the standard library.
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        **kwargs,
    )
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_tuner(busy_timeout))
        event.listen(engine.sync_engine, "begin", _begin)
        _writer_queues[engine.sync_engine] = WriterQueue(busy_timeout)
    return engine


def session_factory(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; ``read_only`` ones never take SQLite's write lock."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return async_sessionmaker(bind, class_=AsyncSession, expire_on_commit=False)


def _writer_queue(sessions: async_sessionmaker[AsyncSession]) -> WriterQueue | None:
    bind = sessions.kw.get("bind")
    # Read-only sessions are bound to an engine with options, which has no queue: no wait.
    return _writer_queues.get(bind.sync_engine) if isinstance(bind, AsyncEngine) else None


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error. On SQLite it first
    waits for this process's earlier writers (see :mod:`profile_store.write_lock`)."""
    async with AsyncExitStack() as stack:
        if (queue := _writer_queue(sessions)) is not None:
            await stack.enter_async_context(queue.turn())
        session = await stack.enter_async_context(sessions())
        await stack.enter_async_context(session.begin())
        yield session


def busy_backoff(attempt: int) -> float:
    """Seconds to wait before trying again after ``attempt`` found the database locked:
    short, doubling, and jittered so that writers that failed together do not retry together."""
    return min(0.05 * 2 ** (attempt - 1), 1.0) * random.uniform(0.5, 1.0)


async def run_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    name: str,
    attempts: int = BUSY_ATTEMPTS,
) -> T:
    """``work`` in one transaction, run again from the start (a fresh transaction) when it
    meets a database that stays locked past the busy timeout; after ``attempts`` tries,
    :class:`DatabaseBusy`. Nothing of a failed try was committed, so running ``work`` again is
    safe as long as it has no effects outside the database. Other errors are not retried."""
    for attempt in range(1, attempts + 1):
        try:
            async with transaction(sessions) as session:
                return await work(session)
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            if attempt == attempts:
                log.warning("database.busy_gave_up", unit=name, attempts=attempts)
                raise DatabaseBusy(f"{name} tried {attempts} times") from exc
            delay = busy_backoff(attempt)
            log.info("database.busy_retry", unit=name, attempt=attempt, delay_s=round(delay, 3))
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def insert_ignoring_conflict(conn: AsyncConnection, table: Table, columns: list[str]) -> Any:
    """``INSERT … ON CONFLICT (columns) DO NOTHING`` on either database: the way to write a
    row exactly once when a retry or a concurrent worker may write it too."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=columns)


async def ping(engine: AsyncEngine) -> None:
    """The database answers; a read, so it never waits for SQLite's writer."""
    async with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
        await conn.execute(text("SELECT 1"))
