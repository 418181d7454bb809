"""Reading and deciding the approvals the agent paused for (discounts above the threshold)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import Approval

APPROVALS = Approval.__table__  # type: ignore[attr-defined]


class ApprovalView(BaseModel):
    id: str
    conversation_id: str
    customer_id: str
    kind: str
    request: dict[str, Any]
    status: str
    decided_by: str | None
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class ApprovalNotFound(LookupError):
    pass


class ApprovalAlreadyDecided(ValueError):
    def __init__(self, approval: ApprovalView) -> None:
        super().__init__(f"approval {approval.id} was already {approval.status}")
        self.approval = approval


async def list_approvals(
    session: AsyncSession, status: str | None = "pending", limit: int = 100
) -> list[ApprovalView]:
    conn = await session.connection()
    query = select(APPROVALS).order_by(APPROVALS.c.created_at).limit(limit)
    if status is not None:
        query = query.where(APPROVALS.c.status == status)
    rows = (await conn.execute(query)).all()
    return [ApprovalView.model_validate(row, from_attributes=True) for row in rows]


async def get_approval(session: AsyncSession, approval_id: str) -> ApprovalView:
    conn = await session.connection()
    row = (await conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id))).first()
    if row is None:
        raise ApprovalNotFound(f"no approval {approval_id!r}")
    return ApprovalView.model_validate(row, from_attributes=True)


async def decide_approval(
    session: AsyncSession,
    approval_id: str,
    *,
    approved: bool,
    decided_by: str,
    note: str | None,
    now: datetime,
) -> ApprovalView:
    """Approve or reject a pending approval, once: a second decision is refused, so two
    marketers clicking at once cannot both answer the shopper."""
    conn = await session.connection()
    changed = await conn.execute(
        update(APPROVALS)
        .where(APPROVALS.c.id == approval_id, APPROVALS.c.status == "pending")
        .values(
            status="approved" if approved else "rejected",
            decided_by=decided_by,
            note=note,
            decided_at=now,
        )
    )
    approval = await get_approval(session, approval_id)
    if changed.rowcount != 1:
        raise ApprovalAlreadyDecided(approval)
    return approval
