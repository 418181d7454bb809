"""Loading a :class:`CustomerContext` from the profile store, fresh for every decision."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context import (
    ConsentState,
    ConversationState,
    CustomerContext,
    Purchase,
    SentMessage,
)
from profile_store.consent import consent_history, current_consents
from profile_store.models import Channel, Conversation, Customer, Identity, ScheduledSend
from profile_store.trait_store import load_traits

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]

# Which identity kind gives an address on which channel.
ADDRESSES = {
    "phone": (Channel.SMS, Channel.WHATSAPP),
    "telegram_id": (Channel.TELEGRAM,),
    "email": (Channel.EMAIL,),
}
# How far back sends are read: longer than any sensible frequency-cap window.
SEND_LOOKBACK = timedelta(days=90)


async def load_context(session: AsyncSession, customer_id: str, *, at: datetime) -> CustomerContext:
    conn = await session.connection()
    customer = (
        await conn.execute(
            select(CUSTOMERS.c.loyalty_tier, CUSTOMERS.c.timezone).where(
                CUSTOMERS.c.id == customer_id
            )
        )
    ).one()
    identities = (
        await conn.execute(
            select(IDENTITIES.c.kind, IDENTITIES.c.value)
            .where(IDENTITIES.c.customer_id == customer_id)
            .order_by(IDENTITIES.c.id)
        )
    ).all()
    sends = await conn.execute(
        select(SENDS.c.channel, SENDS.c.purpose, SENDS.c.sent_at).where(
            SENDS.c.customer_id == customer_id,
            SENDS.c.status == "sent",
            SENDS.c.sent_at > at - SEND_LOOKBACK,
        )
    )
    conversations = await conn.execute(
        select(
            CONVERSATIONS.c.channel, CONVERSATIONS.c.owner, CONVERSATIONS.c.last_inbound_at
        ).where(CONVERSATIONS.c.customer_id == customer_id)
    )
    consents = current_consents(await consent_history(session, customer_id))
    traits = (await load_traits(session, [customer_id])).get(customer_id)

    reachable = {channel for kind, _ in identities for channel in ADDRESSES.get(kind, ())}
    return CustomerContext(
        customer_id=customer_id,
        loyalty_tier=customer.loyalty_tier,
        timezone=customer.timezone,
        phone=next((value for kind, value in identities if kind == "phone"), None),
        reachable=frozenset(reachable),
        consents=[
            ConsentState(channel=c.channel, purpose=c.purpose, status=c.status)
            for c in consents
            if c.channel in Channel._value2member_map_
        ],
        sends=[SentMessage.model_validate(row._mapping) for row in sends],
        conversations=[ConversationState.model_validate(row._mapping) for row in conversations],
        purchases=[
            Purchase(
                product_id=pid,
                last_purchased_at=datetime.fromisoformat(entry["last_at"]),
                category=entry.get("category"),
            )
            for pid, entry in (traits.purchased_products if traits else {}).items()
        ],
        order_count=traits.order_count if traits else 0,
        discounted_order_count=traits.discounted_order_count if traits else 0,
    )
