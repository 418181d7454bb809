"""Admin API: order requests to the shop, including dead-lettered ones, and a person's hand.

A request with no shop webhook, or one the marketer wants approved, waits ``with_person``; the
person does it in the shop (whose event then completes it) or marks it done here, which sends
the shopper the same confirmation. A ``dead`` request can be queued for the shop again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.deps import ContainerDep, Marketer
from profile_store import clock
from profile_store.database import run_transaction
from profile_store.models import OrderRequest
from profile_store.orders import queue_confirmation

router = APIRouter(prefix="/admin/v1", tags=["admin"])
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]


class OrderRequestView(BaseModel):
    id: str
    order_id: str
    customer_id: str
    conversation_id: str | None
    channel: str
    action: str
    details: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@router.get(
    "/order-requests",
    response_model=list[OrderRequestView],
    summary="Order requests (cancel, return, exchange, changes); status=dead for the dead letters",
)
async def list_order_requests(
    container: ContainerDep,
    who: Marketer,
    status_: Annotated[str | None, Query(alias="status", max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    query = select(REQUESTS).order_by(REQUESTS.c.created_at.desc()).limit(limit)
    if status_ is not None:
        query = query.where(REQUESTS.c.status == status_)
    async with container.readers() as session:
        conn = await session.connection()
        rows = (await conn.execute(query)).all()
    return [OrderRequestView.model_validate(row, from_attributes=True) for row in rows]


async def _change(container: Any, request_id: str, allowed: tuple[str, ...], done: bool) -> Any:
    now = clock.now()

    async def write(session: AsyncSession) -> Any:
        conn = await session.connection()
        row = (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order request {request_id!r}")
        if row.status not in allowed:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"order request {request_id} is {row.status}; this needs {' or '.join(allowed)}",
            )
        values: dict[str, Any] = {"updated_at": now}
        if done:
            values.update(status="completed", completed_at=now)
        else:
            values.update(status="queued", next_attempt_at=now, attempts=0, last_error=None)
        await conn.execute(update(REQUESTS).where(REQUESTS.c.id == request_id).values(values))
        if done:
            await queue_confirmation(conn, row, now)
        fresh = (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).one()
        return OrderRequestView.model_validate(fresh, from_attributes=True)

    return await run_transaction(container.sessions, write, name="admin.order_request")


@router.post(
    "/order-requests/{request_id}/complete",
    response_model=OrderRequestView,
    summary="A person did it: mark the request completed and confirm to the shopper",
)
async def complete_order_request(request_id: str, container: ContainerDep, who: Marketer) -> Any:
    return await _change(container, request_id, ("with_person", "dead", "sent"), done=True)


@router.post(
    "/order-requests/{request_id}/retry",
    response_model=OrderRequestView,
    summary="Queue a dead or person-held request for the shop webhook again",
)
async def retry_order_request(request_id: str, container: ContainerDep, who: Marketer) -> Any:
    if container.settings.shop_webhook_url is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "no shop webhook is configured")
    return await _change(container, request_id, ("dead", "with_person"), done=False)
