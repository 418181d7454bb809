"""``GET /v1/discounts/{code}``: the shop checks a code the agent granted, at checkout.

Write-key only (the shop's server, never the browser). An unknown code is a 404, so guessing
codes learns nothing; a known one says whether it is valid now and why not (expired, redeemed,
another shopper's, below the minimum). Redemption is the ``order_completed`` event carrying the
code in ``discount_code``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.deps import ContainerDep, WriteKey
from profile_store import clock
from profile_store.identity import find_customer_id
from profile_store.refs import parse_customer_ref
from tools.agent_tools.discounts import CodeCheck, check_code

router = APIRouter(prefix="/v1", tags=["discounts"], dependencies=[WriteKey])


@router.get(
    "/discounts/{code}",
    summary="Whether a discount code is valid now, its scope and expiry",
    response_model=CodeCheck,
    responses={404: {"description": "No such code"}, 422: {"description": "Bad customer ref"}},
)
async def get_discount(
    code: str,
    container: ContainerDep,
    customer: Annotated[
        str | None, Query(description="The buyer (any profile ref): valid only for its owner")
    ] = None,
    total: Annotated[float | None, Query(ge=0, description="Order total, for the minimum")] = None,
) -> CodeCheck:
    async with container.readers() as session:
        customer_id = None
        if customer is not None:
            try:
                ref = parse_customer_ref(
                    customer, default_region=container.settings.default_phone_region
                )
            except ValueError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
            customer_id = await find_customer_id(session, ref) or "unknown"
        found = await check_code(
            await session.connection(), code, clock.now(), customer_id=customer_id, total=total
        )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no discount code {code!r}")
    return found
