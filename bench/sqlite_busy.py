"""SQLite write-lock benchmark: how long this process's writers wait for SQLite's single write
lock, and how many give up, with the lock taken as the app takes it (writers queued in the
process, then ``BEGIN IMMEDIATE``) against SQLite's busy handler alone (every writer polling the
lock from its pooled connection's thread, as the app did before).

Why: on 2 loaded cores the app answered "database is locked" (webhooks got a 500) although each
write transaction held the lock for about 10 ms: SQLite does not queue waiters, so a writer can
lose every race for the whole busy timeout while others come and go.

Contention: ``WRITERS`` coroutines each run ``TRANSACTIONS`` write transactions shaped like a
webhook's (a lookup, an insert, an update) back to back, while a coroutine keeps the event loop
busy the way the agent does (``BURN_MS`` of pure Python every ``BURN_EVERY_MS``), with a busy
timeout of ``BUSY_TIMEOUT_S`` (shorter than the app's 10 s so a short run shows the failures).
Held: another process holds the lock for 1.5 busy timeouts; one try fails, the unit of work
retried by ``run_transaction`` succeeds.

Run: `.venv/bin/python -m bench.sqlite_busy` (writes bench/results/sqlite_busy.json).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import create_engine, run_transaction, session_factory, transaction
from profile_store.write_lock import is_busy

WRITERS = 48
TRANSACTIONS = 40
BUSY_TIMEOUT_S = 2.0
BURN_MS = 20.0
BURN_EVERY_MS = 30.0
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""

Transaction = Callable[
    [async_sessionmaker[AsyncSession]], AbstractAsyncContextManager[AsyncSession]
]


@asynccontextmanager
async def busy_handler_only(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """The app's transaction before: straight to ``BEGIN IMMEDIATE`` and SQLite's busy wait."""
    async with sessions() as session, session.begin():
        yield session


async def make_schema(engine: AsyncEngine) -> None:
    async with transaction(session_factory(engine)) as session:
        conn = await session.connection()
        await conn.execute(text("CREATE TABLE inbox (id INTEGER PRIMARY KEY, k TEXT UNIQUE)"))
        await conn.execute(text("CREATE TABLE convo (id INTEGER PRIMARY KEY, seen INTEGER)"))
        await conn.execute(text("INSERT INTO convo (id, seen) VALUES (1, 0)"))


async def burn_cpu(stop: asyncio.Event) -> None:
    while not stop.is_set():
        until = time.perf_counter() + BURN_MS / 1000
        while time.perf_counter() < until:
            pass
        await asyncio.sleep((BURN_EVERY_MS - BURN_MS) / 1000)


async def writer(
    n: int,
    sessions: async_sessionmaker[AsyncSession],
    begin: Transaction,
    out: dict[str, list[float]],
) -> None:
    for i in range(TRANSACTIONS):
        started = time.perf_counter()
        try:
            async with begin(sessions) as session:
                conn, key = await session.connection(), f"{n}:{i}"
                await conn.execute(text("SELECT id FROM inbox WHERE k = :k"), {"k": key})
                await conn.execute(text("INSERT INTO inbox (k) VALUES (:k)"), {"k": key})
                await conn.execute(text("UPDATE convo SET seen = seen + 1 WHERE id = 1"))
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            out["failed"].append(time.perf_counter() - started)
            continue
        out["ok"].append(time.perf_counter() - started)


def pct(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0.0
    )


async def contention(directory: Path, name: str, begin: Transaction) -> dict[str, Any]:
    engine = create_engine(
        f"sqlite+aiosqlite:///{directory / name}.db", busy_timeout=BUSY_TIMEOUT_S
    )
    try:
        await make_schema(engine)
        sessions = session_factory(engine)
        out: dict[str, list[float]] = {"ok": [], "failed": []}
        stop = asyncio.Event()
        hog = asyncio.create_task(burn_cpu(stop))
        started = time.perf_counter()
        await asyncio.gather(*(writer(n, sessions, begin, out) for n in range(WRITERS)))
        elapsed = time.perf_counter() - started
        stop.set()
        await hog
        ok = out["ok"]
        return {
            "transactions": WRITERS * TRANSACTIONS,
            "failed_database_locked": len(out["failed"]),
            "committed_per_s": round(len(ok) / elapsed, 1),
            "p50_ms": round(1000 * pct(ok, 50), 1),
            "p99_ms": round(1000 * pct(ok, 99), 1),
            "max_ms": round(1000 * max(ok), 1),
        }
    finally:
        await engine.dispose()


async def held_by_another_process(directory: Path) -> dict[str, Any]:
    """One unit of work while another process holds the lock for 1.5 busy timeouts."""
    url = f"sqlite+aiosqlite:///{directory / 'held'}.db"
    engine = create_engine(url, busy_timeout=BUSY_TIMEOUT_S)
    try:
        await make_schema(engine)
        sessions = session_factory(engine)
        results: dict[str, Any] = {"held_s": 1.5 * BUSY_TIMEOUT_S}

        async def work(session: AsyncSession) -> None:
            conn = await session.connection()
            await conn.execute(text("UPDATE convo SET seen = seen + 1 WHERE id = 1"))

        for variant in ("one_try", "run_transaction"):
            holder = await asyncio.create_subprocess_exec(
                *[sys.executable, "-c", HOLDER, str(directory / "held.db"), str(results["held_s"])],
                stdout=asyncio.subprocess.PIPE,
            )
            assert holder.stdout is not None and (await holder.stdout.readline()) == b"held\n"
            started = time.perf_counter()
            try:
                if variant == "one_try":
                    async with transaction(sessions) as session:
                        await work(session)
                else:
                    await run_transaction(sessions, work, name="bench")
                outcome = "committed"
            except OperationalError as exc:
                outcome = "database is locked" if is_busy(exc) else repr(exc)
            results[variant] = {
                "outcome": outcome,
                "after_s": round(time.perf_counter() - started, 2),
            }
            await holder.wait()
        return results
    finally:
        await engine.dispose()


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


async def measure() -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "writers": WRITERS,
            "transactions_per_writer": TRANSACTIONS,
            "statements_per_transaction": 3,
            "busy_timeout_s": BUSY_TIMEOUT_S,
            "event_loop_cpu": f"{BURN_MS:g} ms busy every {BURN_EVERY_MS:g} ms",
            "pool": "SQLAlchemy default (5 + 10 overflow)",
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        results["busy_handler_only"] = await contention(directory, "before", busy_handler_only)
        results["queued_writers"] = await contention(directory, "after", transaction)
        results["held_by_another_process"] = await held_by_another_process(directory)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main() -> None:
    results = asyncio.run(measure())
    columns = ("failed_database_locked", "committed_per_s", "p50_ms", "p99_ms", "max_ms")
    print(f"{'variant':<18} " + " ".join(f"{c:>22}" for c in columns))
    for variant in ("busy_handler_only", "queued_writers"):
        print(f"{variant:<18} " + " ".join(f"{results[variant][c]:>22}" for c in columns))
    print("lock held by another process:", json.dumps(results["held_by_another_process"]))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sqlite_busy.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
