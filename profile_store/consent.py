"""Consent per channel and purpose, kept as an append-only history.

The current state for a (channel, purpose) is the row with the latest ``occurred_at``: a late
event about an older change never overrides a newer one, and the full history stays auditable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.models import Channel, Consent, ConsentPurpose, ConsentStatus
from profile_store.schemas import ConsentView

CONSENTS = Consent.__table__  # type: ignore[attr-defined]


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


async def consent_history(session: AsyncSession, customer_id: str) -> list[ConsentView]:
    """Every consent change of a customer, oldest first by when it happened."""
    return (await consent_histories(session, [customer_id])).get(customer_id, [])


async def consent_histories(
    session: AsyncSession, customer_ids: Sequence[str]
) -> dict[str, list[ConsentView]]:
    """Consent histories of many customers in one query, each oldest first."""
    connection = await session.connection()
    rows = await connection.execute(
        select(
            CONSENTS.c.customer_id,
            CONSENTS.c.channel,
            CONSENTS.c.purpose,
            CONSENTS.c.status,
            CONSENTS.c.source,
            CONSENTS.c.occurred_at,
        )
        .where(CONSENTS.c.customer_id.in_(sorted(set(customer_ids))))
        .order_by(CONSENTS.c.customer_id, CONSENTS.c.occurred_at, CONSENTS.c.id)
    )
    histories: dict[str, list[ConsentView]] = {}
    for row in rows:
        histories.setdefault(row.customer_id, []).append(ConsentView.model_validate(row._mapping))
    return histories


def current_consents(history: Sequence[ConsentView]) -> list[ConsentView]:
    """The latest change per (channel, purpose), by when it happened, not when it arrived.

    ``history`` must be in the order :func:`consent_history` returns.
    """
    latest: dict[tuple[str, str], ConsentView] = {}
    for row in history:
        latest[(row.channel, row.purpose)] = row
    return [latest[key] for key in sorted(latest)]
