"""Consent changes the pipeline makes from what shoppers say (STOP, START) or providers report."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from channels.messages import ChannelName
from profile_store.consent import record_consent
from profile_store.models import Channel, ConsentPurpose, ConsentStatus


async def revoke_channel(
    session: AsyncSession, customer_id: str, channel: ChannelName, *, source: str, at: datetime
) -> None:
    """STOP on a channel ends marketing and automated messages there (carriers block the
    sender entirely); other channels keep their own consent."""
    for purpose in (ConsentPurpose.MARKETING, ConsentPurpose.TRANSACTIONAL):
        await record_consent(
            session,
            customer_id,
            channel=Channel(channel.value),
            purpose=purpose,
            status=ConsentStatus.REVOKED,
            source=source,
            occurred_at=at,
        )


async def grant_channel(
    session: AsyncSession, customer_id: str, channel: ChannelName, *, source: str, at: datetime
) -> None:
    """START re-subscribes: the shopper asked, in writing, for messages on this channel."""
    for purpose in (ConsentPurpose.MARKETING, ConsentPurpose.TRANSACTIONAL):
        await record_consent(
            session,
            customer_id,
            channel=Channel(channel.value),
            purpose=purpose,
            status=ConsentStatus.GRANTED,
            source=source,
            occurred_at=at,
        )
