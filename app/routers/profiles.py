"""``GET /v1/profiles/{ref}``: the unified profile of one customer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlmodel.ext.asyncio.session import AsyncSession

from app.deps import ContainerDep, WriteKey
from profile_store.identity import find_customer
from profile_store.profile_view import load_profile
from profile_store.refs import parse_customer_ref
from profile_store.schemas import ProfileView

router = APIRouter(prefix="/v1", tags=["profiles"])


@router.get(
    "/profiles/{ref}",
    summary="The unified profile: identities, consents, traits, recent events",
    response_model=ProfileView,
    dependencies=[WriteKey],
    responses={404: {"description": "No customer for this reference"}},
)
async def get_profile(ref: str, container: ContainerDep) -> ProfileView:
    try:
        customer_ref = parse_customer_ref(
            ref, default_region=container.settings.default_phone_region
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session: AsyncSession
    async with container.sessions() as session:
        customer = await find_customer(session, customer_ref)
        if customer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer for {ref!r}")
        return await load_profile(session, customer, requested_ref=ref)
