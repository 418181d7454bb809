"""Order requests as a person sees them: the list (dead letters included), and a person's hand
(done in the shop, or sent to the shop again). Shared by the admin API and the console; every
change is audited in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.admin_tokens import Principal
from app.audit import audit
from app.container import Container
from profile_store import clock
from profile_store.database import run_transaction
from profile_store.models import OrderRequest
from profile_store.orders import queue_confirmation

REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
COMPLETABLE = ("with_person", "dead", "sent")
RETRYABLE = ("dead", "with_person")


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


class OrderRequestMissing(LookupError):
    pass


class OrderRequestConflict(ValueError):
    pass


async def list_order_requests(
    container: Container, status: str | None, limit: int
) -> list[OrderRequestView]:
    query = select(REQUESTS).order_by(REQUESTS.c.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(REQUESTS.c.status == status)
    async with container.readers() as session:
        conn = await session.connection()
        rows = (await conn.execute(query)).all()
    return [OrderRequestView.model_validate(row, from_attributes=True) for row in rows]


async def change_order_request(
    container: Container, who: Principal, request_id: str, *, done: bool
) -> OrderRequestView:
    """``done``: a person did it (completed, and the shopper confirmed); else queued for the
    shop webhook again. :class:`OrderRequestMissing` or :class:`OrderRequestConflict` say why
    not."""
    allowed = COMPLETABLE if done else RETRYABLE
    if not done and container.settings.shop_webhook_url is None:
        raise OrderRequestConflict("no shop webhook is configured")
    now = clock.now()

    async def write(session: AsyncSession) -> OrderRequestView:
        conn = await session.connection()
        row = (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).first()
        if row is None:
            raise OrderRequestMissing(f"no order request {request_id!r}")
        if row.status not in allowed:
            raise OrderRequestConflict(
                f"order request {request_id} is {row.status}; this needs {' or '.join(allowed)}"
            )
        before = OrderRequestView.model_validate(row, from_attributes=True)
        values: dict[str, Any] = {"updated_at": now}
        if done:
            values.update(status="completed", completed_at=now)
        else:
            values.update(status="queued", next_attempt_at=now, attempts=0, last_error=None)
        await conn.execute(update(REQUESTS).where(REQUESTS.c.id == request_id).values(values))
        if done:
            await queue_confirmation(conn, row, now)
        fresh = (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).one()
        after = OrderRequestView.model_validate(fresh, from_attributes=True)
        await audit(
            session,
            who,
            "order_request.complete" if done else "order_request.retry",
            request_id,
            before=before.model_dump(mode="json"),
            after=after.model_dump(mode="json"),
            now=now,
        )
        return after

    return await run_transaction(container.sessions, write, name="admin.order_request")
