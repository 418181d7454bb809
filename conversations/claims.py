"""Claiming and releasing conversations: the leases the conversation worker holds.

One statement claims a batch of due conversations for one fencing token; the release is fenced
by the same token, so a worker whose lease was taken over never moves the due time or drops the
lease of the worker that now holds it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conversations.inbox import CONVERSATIONS
from profile_store.leases import claim_statement, held


class Claim(BaseModel):
    id: str
    due_at: datetime
    token: str


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    token: str,
    running: Collection[str] = (),
) -> list[Claim]:
    """Lease up to ``limit`` due conversations, oldest first, skipping those this worker is
    already running (whatever their lease says)."""
    free = or_(CONVERSATIONS.c.lease_until.is_(None), CONVERSATIONS.c.lease_until < now)
    candidates = (
        select(CONVERSATIONS.c.id)
        .where(CONVERSATIONS.c.due_at <= now, free)
        .order_by(CONVERSATIONS.c.due_at)
        .limit(limit)
    )
    if running:
        candidates = candidates.where(CONVERSATIONS.c.id.not_in(sorted(running)))
    rows = await conn.execute(
        claim_statement(CONVERSATIONS, candidates, token=token, until=now + lease).returning(
            CONVERSATIONS.c.id, CONVERSATIONS.c.due_at
        )
    )
    claims = [Claim(id=row.id, due_at=row.due_at, token=token) for row in rows]
    return sorted(claims, key=lambda claim: (claim.due_at, claim.id))


async def still_held(conn: AsyncConnection, claim: Claim) -> bool:
    """Inside a write transaction: is the lease still ours? (Locks the row on PostgreSQL, so it
    stays ours until the transaction ends.)"""
    row = await conn.scalar(
        select(CONVERSATIONS.c.id)
        .where(CONVERSATIONS.c.id == claim.id, held(CONVERSATIONS, claim.token))
        .with_for_update()
    )
    return row is not None


async def release(conn: AsyncConnection, claim: Claim, retry_at: datetime | None) -> bool:
    """Drop the lease. The conversation stays due only if a message arrived meanwhile (the
    webhook moved ``due_at``) or something must be tried again at ``retry_at``. False when the
    lease was no longer ours (nothing is changed then)."""
    ours = and_(CONVERSATIONS.c.id == claim.id, held(CONVERSATIONS, claim.token))
    unchanged = await conn.execute(
        update(CONVERSATIONS)
        .where(ours, CONVERSATIONS.c.due_at == claim.due_at)
        .values(due_at=retry_at, lease_until=None, lease_token=None)
    )
    if unchanged.rowcount == 1:
        return True
    moved = ours
    if retry_at is not None:
        await conn.execute(
            update(CONVERSATIONS)
            .where(moved, or_(CONVERSATIONS.c.due_at.is_(None), CONVERSATIONS.c.due_at > retry_at))
            .values(due_at=retry_at)
        )
    dropped = await conn.execute(
        update(CONVERSATIONS).where(moved).values(lease_until=None, lease_token=None)
    )
    return dropped.rowcount == 1
