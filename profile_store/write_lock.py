"""SQLite's single write lock, as this process takes it.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps and
tries again (the busy timeout), but waiters are not queued: each pooled aiosqlite connection
polls from its own thread, so under load one writer can lose every race for the whole timeout
while others come and go, and every waiter holds a pooled connection meanwhile. Measured on 2
busy cores: write transactions held the lock ~10 ms each, yet some waited 4-10 s and failed
with "database is locked". So this process's writers queue here first, in arrival order and
without a connection; the busy timeout is then left only for other processes' writers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, OperationalError

# Primary result codes of a lock another connection holds (extended codes keep them in the low
# byte: SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, ...).
_LOCK_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class DatabaseBusy(OperationalError):
    """SQLite stayed locked by other writers for longer than this unit of work may wait.

    An ``OperationalError``, like SQLite's own "database is locked", so code that already
    handles database errors handles this one too."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, None, sqlite3.OperationalError(f"database is locked: {detail}"))
        self.reason = detail


def is_busy(error: BaseException) -> bool:
    """True if ``error`` means another writer held SQLite's lock (worth trying again later),
    not that the statement or the database is wrong."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if not isinstance(cause, sqlite3.OperationalError):
        return False
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _LOCK_CODES
    return str(cause).startswith(("database is locked", "database table is locked"))


class WriterQueue:
    """This process's writers of one SQLite database, let in one at a time, first come first
    served; a writer that waits longer than ``timeout`` seconds gets :class:`DatabaseBusy`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = asyncio.Lock()  # FIFO: a newcomer never overtakes a waiter

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise DatabaseBusy(
                f"this process's writers were queued for more than {self.timeout:g} s"
            ) from None
        try:
            yield
        finally:
            self._lock.release()
