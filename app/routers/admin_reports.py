"""Admin API: what automation adds (treated vs holdout), and why a customer got each message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from app.deps import ContainerDep, Marketer
from app.routers.decisions import resolve_customer_id
from policy.decision_log import DecisionView, list_decisions
from policy.lift_report import LiftReport, lift_report
from profile_store import clock

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.get(
    "/reports/lift",
    response_model=LiftReport,
    summary="Per program: treated vs holdout conversions, revenue per recipient, lift with 95% CI",
)
async def lift(
    container: ContainerDep,
    who: Marketer,
    days: Annotated[int, Query(ge=1, le=365, description="the last N days")] = 30,
    until: Annotated[datetime | None, Query(description="end of the period; default now")] = None,
) -> Any:
    end = until or clock.now()
    if end.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until needs a timezone")
    async with container.readers() as session:
        return await lift_report(session, since=end - timedelta(days=days), until=end)


@router.get(
    "/customers/{ref}/decisions",
    response_model=list[DecisionView],
    summary="Why each message to a customer was sent, suppressed or held out",
)
async def customer_decisions(
    ref: str,
    container: ContainerDep,
    who: Marketer,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    customer_id = await resolve_customer_id(container, ref)
    async with container.readers() as session:
        return await list_decisions(session, customer_id, limit=limit)
