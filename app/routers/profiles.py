"""``GET /v1/profiles/{ref}``: the unified profile of one customer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlmodel.ext.asyncio.session import AsyncSession

from app.deps import ContainerDep, WriteKey
from profile_store.identity import find_customer_id
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
async def get_profile(ref: str, container: ContainerDep) -> Response:
    try:
        customer_ref = parse_customer_ref(
            ref, default_region=container.settings.default_phone_region
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session: AsyncSession
    async with container.readers() as session:
        customer_id = await find_customer_id(session, customer_ref)
        if customer_id is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer for {ref!r}")
        profile = await load_profile(session, customer_id, requested_ref=ref)
    # Already a validated model: serialise it once instead of letting FastAPI validate it again.
    return Response(profile.model_dump_json(), media_type="application/json")
