"""The unified profile as one read model: identities, consent, traits, recent events, merges.

Read with SQLAlchemy Core straight into the pydantic views: building ORM instances per row
would cost more than the queries themselves.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.consent import consent_history, current_consents
from profile_store.models import Customer, Event, Identity, IdentityConflict, ProfileMerge
from profile_store.schemas import (
    ConflictView,
    EventView,
    IdentityView,
    MergeView,
    ProfileView,
)
from profile_store.scoring.store import current_scores
from profile_store.trait_store import TABLE as TRAITS
from profile_store.traits import TraitState, traits_view

RECENT_EVENTS = 20
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
MERGES = ProfileMerge.__table__  # type: ignore[attr-defined]
CONFLICTS = IdentityConflict.__table__  # type: ignore[attr-defined]
TRAIT_TIMES = [
    TRAITS.c[name].label(f"traits_{name}")
    for name in ("first_seen_at", "last_seen_at", "last_order_at", "updated_at")
]


async def load_profile(
    session: AsyncSession, customer_id: str, *, requested_ref: str, recent: int = RECENT_EVENTS
) -> ProfileView:
    cid = customer_id
    conn = await session.connection()
    customer = (
        await conn.execute(
            select(CUSTOMERS, TRAITS.c.data.label("traits_data"), *TRAIT_TIMES)
            .outerjoin(TRAITS, TRAITS.c.customer_id == CUSTOMERS.c.id)
            .where(CUSTOMERS.c.id == cid)
        )
    ).one()
    identities = await conn.execute(
        select(
            IDENTITIES.c.kind, IDENTITIES.c.value, IDENTITIES.c.verified, IDENTITIES.c.created_at
        )
        .where(IDENTITIES.c.customer_id == cid)
        .order_by(IDENTITIES.c.id)
    )
    events = await conn.execute(
        select(EVENTS.c.event_id, EVENTS.c.type, EVENTS.c.properties, EVENTS.c.occurred_at)
        .where(EVENTS.c.customer_id == cid)
        .order_by(EVENTS.c.occurred_at.desc(), EVENTS.c.id.desc())
        .limit(recent)
    )
    merges = await conn.execute(
        select(
            MERGES.c.source_customer_id,
            MERGES.c.target_customer_id,
            MERGES.c.reason,
            MERGES.c.merged_at,
        )
        .where(MERGES.c.target_customer_id == cid)
        .order_by(MERGES.c.merged_at)
    )
    conflicts = await conn.execute(
        select(CONFLICTS).where(
            or_(CONFLICTS.c.customer_id == cid, CONFLICTS.c.other_customer_id == cid)
        )
    )
    history = await consent_history(session, cid)
    traits = (
        None
        if customer.traits_data is None
        else TraitState(
            customer_id=cid,
            first_seen_at=customer.traits_first_seen_at,
            last_seen_at=customer.traits_last_seen_at,
            last_order_at=customer.traits_last_order_at,
            updated_at=customer.traits_updated_at,
            **customer.traits_data,
        )
    )

    scores = (await current_scores(conn, {cid: traits}, clock.now()))[cid]
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
        identities=[IdentityView.model_validate(row._mapping) for row in identities],
        consents=current_consents(history),
        consent_history=history,
        traits=traits_view(traits, clock.now()),
        recent_events=[EventView.model_validate(row._mapping) for row in events],
        merged_from=[MergeView.model_validate(row._mapping) for row in merges],
        conflicts=[
            ConflictView(
                other_customer_id=(
                    row.other_customer_id if row.customer_id == cid else row.customer_id
                ),
                kind=row.kind,
                detail=row.detail,
                status=row.status,
                detected_at=row.detected_at,
            )
            for row in conflicts
        ],
        scores=scores,
    )
