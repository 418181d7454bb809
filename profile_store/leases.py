"""Leases on work rows (conversations, scheduled sends).

A worker claims rows in one statement (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
RETURNING``; SQLite has no row locks and needs none, its writer lock already serialises the
statement), writing a lease end and a fencing token. While the work runs, a heartbeat moves the
lease end forward, and only for rows that still carry the worker's token: a worker whose lease
was taken over cannot extend, settle or release what is now someone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Select, Table, Update, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.database import transaction

log = structlog.get_logger(__name__)


def new_token() -> str:
    """A fencing token: unique per claim, so an old holder's writes match no row."""
    return secrets.token_hex(12)


def claim_statement(
    table: Table,
    candidates: Select[Any],
    *,
    token: str,
    until: datetime,
    values: dict[str, Any] | None = None,
) -> Update:
    """One statement that leases the rows ``candidates`` selects (a select of ``table.c.id``)
    to ``token`` until ``until``; rows another worker is claiming at the same moment are
    skipped, not waited for. Add ``.returning(...)`` for what the worker needs to know."""
    locked = candidates.with_for_update(skip_locked=True)
    return (
        update(table)
        .where(table.c.id.in_(locked.scalar_subquery()))
        .values(lease_until=until, lease_token=token, **(values or {}))
    )


def held(table: Table, token: str) -> ColumnElement[bool]:
    """The fencing condition: the row is still leased to ``token``."""
    return table.c.lease_token == token


class Heartbeat:
    """Keeps the leases of rows held under one token alive while their work runs.

    Every ``every`` seconds it extends the lease of each row still being worked on; a row whose
    token changed (its lease ran out and another worker claimed it) is reported to ``on_lost``
    so the work on it can stop before it does anything twice.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        token: str,
        lease: timedelta,
        *,
        every: float | None = None,
        on_lost: Callable[[set[Any]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._token = token
        self._lease = lease
        self._every = every if every is not None else max(lease.total_seconds() / 3, 0.05)
        self._on_lost = on_lost
        self._ids: set[Any] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, ids: Iterable[Any]) -> None:
        self._ids.update(ids)

    def discard(self, ids: Iterable[Any]) -> None:
        self._ids.difference_update(ids)

    async def beat(self) -> set[Any]:
        """Extend the leases now; returns the rows that are no longer ours."""
        ids = sorted(self._ids)
        if not ids:
            return set()
        table = self._table
        async with transaction(self._sessions) as session:
            conn = await session.connection()
            kept = (
                await conn.execute(
                    update(table)
                    .where(table.c.id.in_(ids), held(table, self._token))
                    .values(lease_until=clock.now() + self._lease)
                    .returning(table.c.id)
                )
            ).scalars()
            lost = set(ids) - set(kept)
        if lost:
            self._ids -= lost
            log.warning("lease.lost", table=table.name, ids=sorted(lost))
            if self._on_lost is not None:
                self._on_lost(lost)
        return lost

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.beat()
            except Exception:  # a busy or unreachable database: try again at the next beat
                log.exception("lease.heartbeat_failed", table=self._table.name)

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self._table.name}")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
