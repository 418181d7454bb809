"""The unified profile as one read model: identities, consent, traits, recent events, merges."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.consent import consent_history, current_consents
from profile_store.models import (
    Customer,
    CustomerTraits,
    Event,
    Identity,
    IdentityConflict,
    ProfileMerge,
)
from profile_store.schemas import (
    ConflictView,
    ConsentView,
    EventView,
    IdentityView,
    MergeView,
    ProfileView,
)
from profile_store.traits import traits_view

RECENT_EVENTS = 20


async def load_profile(
    session: AsyncSession, customer: Customer, *, requested_ref: str, recent: int = RECENT_EVENTS
) -> ProfileView:
    cid = customer.id
    identities = (
        await session.exec(
            select(Identity).where(Identity.customer_id == cid).order_by(col(Identity.id))
        )
    ).all()
    history = await consent_history(session, cid)
    traits = await session.get(CustomerTraits, cid)
    events = (
        await session.exec(
            select(Event)
            .where(Event.customer_id == cid)
            .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
            .limit(recent)
        )
    ).all()
    merges = (
        await session.exec(
            select(ProfileMerge)
            .where(ProfileMerge.target_customer_id == cid)
            .order_by(col(ProfileMerge.merged_at))
        )
    ).all()
    conflicts = (
        await session.exec(
            select(IdentityConflict).where(
                or_(IdentityConflict.customer_id == cid, IdentityConflict.other_customer_id == cid)
            )
        )
    ).all()

    def consent_view(row: object) -> ConsentView:
        return ConsentView.model_validate(row, from_attributes=True)

    return ProfileView(
        customer_id=cid,
        requested_ref=requested_ref,
        first_name=customer.first_name,
        last_name=customer.last_name,
        timezone=customer.timezone,
        locale=customer.locale,
        loyalty_tier=customer.loyalty_tier,
        attributes=customer.attributes,
        created_at=customer.created_at,
        identities=[IdentityView.model_validate(i, from_attributes=True) for i in identities],
        consents=[consent_view(c) for c in current_consents(history)],
        consent_history=[consent_view(c) for c in history],
        traits=traits_view(traits, datetime.now(UTC)),
        recent_events=[EventView.model_validate(e, from_attributes=True) for e in events],
        merged_from=[MergeView.model_validate(mg, from_attributes=True) for mg in merges],
        conflicts=[
            ConflictView(
                other_customer_id=(c.other_customer_id if c.customer_id == cid else c.customer_id),
                kind=c.kind,
                detail=c.detail,
                status=c.status,
                detected_at=c.detected_at,
            )
            for c in conflicts
        ],
    )
