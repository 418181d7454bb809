"""Provider status callbacks: move an outbound message forward, and honour an unsubscribe.

Callbacks arrive out of order (``delivered`` can overtake ``sent``), so a status only ever
moves forward; a failure is final. Twilio error 21610 means the recipient has replied STOP to
this sender: that is recorded as their opt-out even if we never saw the STOP itself.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.messages import ChannelName, DeliveryStatus, StatusUpdate
from conversations.consent_changes import set_channel_consent
from conversations.inbox import MESSAGES
from profile_store.addresses import address_identity
from profile_store.identity import find_customer_id
from profile_store.models import Channel, ConsentStatus
from profile_store.schemas import CustomerRef

log = structlog.get_logger(__name__)

_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
}


def _moves_forward(current: str, new: DeliveryStatus) -> bool:
    try:
        old = DeliveryStatus(current)
    except ValueError:
        return True  # 'queued'/'sent' by the pipeline, or unknown: take the provider's word
    return _RANK[new] > _RANK[old]


async def apply_status(
    session: AsyncSession, status: StatusUpdate, *, now: datetime, default_region: str
) -> bool:
    """Returns whether a stored message was updated (unknown ids are a logged no-op)."""
    conn = await session.connection()
    row = (
        await conn.execute(
            select(MESSAGES.c.id, MESSAGES.c.status).where(
                MESSAGES.c.channel == status.channel.value,
                MESSAGES.c.provider_message_id == status.provider_message_id,
            )
        )
    ).first()
    changed = False
    if row is not None and _moves_forward(row.status, status.status):
        error = None
        if status.error_code:
            error = f"{status.error_code}: {status.error_message or 'provider error'}"
        await conn.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == row.id)
            .values(status=status.status.value, error=error, updated_at=now)
        )
        changed = True
    elif row is None:
        log.info("status.unknown_message", provider_message_id=status.provider_message_id)
    if status.recipient_unsubscribed and status.recipient:
        await _opt_out_recipient(session, status.channel, status.recipient, now, default_region)
    return changed


async def _opt_out_recipient(
    session: AsyncSession, channel: ChannelName, address: str, now: datetime, default_region: str
) -> None:
    try:
        kind, value = address_identity(Channel(channel.value), address, default_region)
    except ValueError:
        return
    ref = CustomerRef.model_validate(
        {kind.value: value}, context={"default_region": default_region}
    )
    customer_id = await find_customer_id(session, ref)
    if customer_id is not None:
        await set_channel_consent(
            session, customer_id, channel, ConsentStatus.REVOKED, source="provider:21610", at=now
        )
