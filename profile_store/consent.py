"""Consent per channel and purpose, kept as an append-only history.

The current state for a (channel, purpose) is the row with the latest ``occurred_at``: a late
event about an older change never overrides a newer one, and the full history stays auditable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import Channel, Consent, ConsentPurpose, ConsentStatus


async def record_consent(
    session: AsyncSession,
    customer_id: str,
    *,
    channel: Channel,
    purpose: ConsentPurpose,
    status: ConsentStatus,
    source: str,
    occurred_at: datetime,
    event_id: str | None = None,
) -> Consent:
    """Append one consent change; runs in the caller's transaction."""
    row = Consent(
        customer_id=customer_id,
        channel=channel.value,
        purpose=purpose.value,
        status=status.value,
        source=source,
        occurred_at=occurred_at,
        event_id=event_id,
    )
    session.add(row)
    return row


async def consent_history(session: AsyncSession, customer_id: str) -> Sequence[Consent]:
    rows = await session.exec(
        select(Consent)
        .where(Consent.customer_id == customer_id)
        .order_by(col(Consent.occurred_at), col(Consent.id))
    )
    return rows.all()


def current_consents(history: Sequence[Consent]) -> list[Consent]:
    """The latest change per (channel, purpose), by when it happened, not when it arrived."""
    latest: dict[tuple[str, str], Consent] = {}
    for row in history:
        key = (row.channel, row.purpose)
        if key not in latest or (row.occurred_at, row.id or 0) >= (
            latest[key].occurred_at,
            latest[key].id or 0,
        ):
            latest[key] = row
    return [latest[key] for key in sorted(latest)]
