"""Admin API: order requests to the shop, including dead-lettered ones, and a person's hand.

A request with no shop webhook, or one the marketer wants approved, waits ``with_person``; the
person does it in the shop (whose event then completes it) or marks it done here, which sends
the shopper the same confirmation. A ``dead`` request can be queued for the shop again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.deps import ContainerDep, Marketer
from app.order_requests import (
    OrderRequestConflict,
    OrderRequestMissing,
    OrderRequestView,
    change_order_request,
    list_order_requests,
)

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.get(
    "/order-requests",
    response_model=list[OrderRequestView],
    summary="Order requests (cancel, return, exchange, changes); status=dead for the dead letters",
)
async def order_requests(
    container: ContainerDep,
    who: Marketer,
    status_: Annotated[str | None, Query(alias="status", max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OrderRequestView]:
    return await list_order_requests(container, status_, limit)


async def _change(
    container: ContainerDep, who: Marketer, request_id: str, *, done: bool
) -> OrderRequestView:
    try:
        return await change_order_request(container, who, request_id, done=done)
    except OrderRequestMissing as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except OrderRequestConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post(
    "/order-requests/{request_id}/complete",
    response_model=OrderRequestView,
    summary="A person did it: mark the request completed and confirm to the shopper",
)
async def complete_order_request(
    request_id: str, container: ContainerDep, who: Marketer
) -> OrderRequestView:
    return await _change(container, who, request_id, done=True)


@router.post(
    "/order-requests/{request_id}/retry",
    response_model=OrderRequestView,
    summary="Queue a dead or person-held request for the shop webhook again",
)
async def retry_order_request(
    request_id: str, container: ContainerDep, who: Marketer
) -> OrderRequestView:
    return await _change(container, who, request_id, done=False)
