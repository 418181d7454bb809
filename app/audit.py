"""The audit log: every admin write, with who, when, and the value before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.admin_tokens import Principal
from profile_store.models import AuditEntry

AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_token_id: str | None
    role: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def audit(
    session: AsyncSession,
    who: Principal,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Written in the same transaction as the change, so there is no change without its entry."""
    conn = await session.connection()
    await conn.execute(
        AUDIT.insert().values(
            at=now,
            actor=who.name,
            actor_token_id=who.token_id,
            role=who.role.value,
            action=action,
            target=target,
            before=before,
            after=after,
        )
    )


async def read_audit(
    session: AsyncSession, *, action: str | None = None, limit: int = 200
) -> list[AuditView]:
    conn = await session.connection()
    query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
    if action:
        query = query.where(AUDIT.c.action == action)
    return [
        AuditView.model_validate(row, from_attributes=True) for row in await conn.execute(query)
    ]
