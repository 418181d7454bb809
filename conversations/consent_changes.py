"""Consent changes the pipeline makes from what shoppers say (STOP, START) or providers report.

STOP on a channel ends marketing and automated messages there (carriers block the sender
entirely); START asks, in writing, for them again. Other channels keep their own consent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from channels.messages import ChannelName
from profile_store.consent import record_consent
from profile_store.models import Channel, ConsentPurpose, ConsentStatus


async def set_channel_consent(
    session: AsyncSession,
    customer_id: str,
    channel: ChannelName,
    status: ConsentStatus,
    *,
    source: str,
    at: datetime,
) -> None:
    for purpose in (ConsentPurpose.MARKETING, ConsentPurpose.TRANSACTIONAL):
        await record_consent(
            session,
            customer_id,
            channel=Channel(channel.value),
            purpose=purpose,
            status=status,
            source=source,
            occurred_at=at,
        )
