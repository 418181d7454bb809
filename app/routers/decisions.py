"""The decision log and a customer's timeline, for marketers and support."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status

from app.deps import ContainerDep, WriteKey
from policy.decision_log import DecisionView, TimelineEntry, list_decisions, timeline
from profile_store.identity import find_customer_id
from profile_store.refs import parse_customer_ref

router = APIRouter(prefix="/v1", tags=["decisions"], dependencies=[WriteKey])


async def resolve_customer_id(container: ContainerDep, ref: str) -> str:
    try:
        parsed = parse_customer_ref(ref, default_region=container.settings.default_phone_region)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    async with container.readers() as session:
        customer_id = await find_customer_id(session, parsed)
    if customer_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer for {ref!r}")
    return customer_id


@router.get(
    "/decisions",
    summary="Decisions for a customer, newest first, with every reason",
    response_model=list[DecisionView],
)
async def get_decisions(
    container: ContainerDep,
    customer: str = Query(description="customer id, phone, email or kind:value"),
    limit: int = Query(50, ge=1, le=500),
) -> list[DecisionView]:
    customer_id = await resolve_customer_id(container, customer)
    async with container.readers() as session:
        return await list_decisions(session, customer_id, limit=limit)


@router.get(
    "/customers/{ref}/timeline",
    summary="Events, decisions and sends of a customer, newest first",
    response_model=list[TimelineEntry],
)
async def get_timeline(
    ref: str, container: ContainerDep, limit: int = Query(100, ge=1, le=1000)
) -> list[TimelineEntry]:
    customer_id = await resolve_customer_id(container, ref)
    async with container.readers() as session:
        return await timeline(session, customer_id, limit=limit)
