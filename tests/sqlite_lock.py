"""SQLite's write lock held by another connection, as a busy process holds it, for as long as a
test says: tests release it explicitly rather than racing a timer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from profile_store import database

# The longest a test waits for something it set up to happen (a hang, not a slow machine).
PATIENCE_SECONDS = 30


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    assert database, f"not a SQLite file: {url}"
    return Path(database)


class WriteLock:
    """A plain sqlite3 connection (not the app's engine) that takes the write lock with
    ``BEGIN IMMEDIATE`` and keeps it until :meth:`release`."""

    def __init__(self, path: Path, *, exclusive: bool = False) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._begin = "BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE"
        self.held = False

    def take(self) -> None:
        self._conn.execute(self._begin)
        self.held = True

    def release(self) -> None:
        if self.held:
            self._conn.execute("ROLLBACK")
            self.held = False

    def close(self) -> None:
        self.release()
        self._conn.close()


@contextmanager
def write_lock_held(url: str, *, exclusive: bool = False) -> Iterator[WriteLock]:
    """The lock taken now; released at the end of the block unless released before."""
    lock = WriteLock(sqlite_path(url), exclusive=exclusive)
    lock.take()
    try:
        yield lock
    finally:
        lock.close()


class Retries:
    """Counts the tries ``run_transaction`` found locked and lets a test act on the first; the
    backoff after each is shortened so the tests stay fast."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[int] = []
        self.first = asyncio.Event()
        monkeypatch.setattr(database, "busy_backoff", self._backoff)

    def _backoff(self, attempt: int) -> float:
        self.attempts.append(attempt)
        self.first.set()
        return 0.01


async def first_of(task: asyncio.Task[Any], signal: Awaitable[Any]) -> None:
    """Wait until ``signal`` happens or ``task`` ends, whichever comes first."""
    waiter = asyncio.ensure_future(signal)
    await asyncio.wait(
        {task, waiter}, timeout=PATIENCE_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
