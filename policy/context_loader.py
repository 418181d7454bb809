"""Loading a :class:`CustomerContext` from the profile store, fresh for every decision."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context import (
    CartLine,
    ConsentState,
    ConversationState,
    CustomerContext,
    OwnQuietHours,
    Purchase,
    SentMessage,
)
from profile_store.addresses import reachable_channels
from profile_store.consent import consent_histories, current_consents
from profile_store.models import Channel, Conversation, Customer, Identity, ScheduledSend
from profile_store.scoring.params import PRIOR_VERSION
from profile_store.scoring.store import current_scores
from profile_store.trait_store import load_traits
from profile_store.traits import TraitState

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]

# How far back sends are read: longer than any sensible frequency-cap window.
SEND_LOOKBACK = timedelta(days=90)


async def load_context(session: AsyncSession, customer_id: str, *, at: datetime) -> CustomerContext:
    return (await load_contexts(session, [customer_id], at=at))[customer_id]


async def load_contexts(
    session: AsyncSession, customer_ids: Sequence[str], *, at: datetime
) -> dict[str, CustomerContext]:
    """Contexts for many customers in six queries (the scheduler re-checks sends in batches)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    conn = await session.connection()
    customers = {
        row.id: row
        for row in await conn.execute(
            select(
                CUSTOMERS.c.id,
                CUSTOMERS.c.first_name,
                CUSTOMERS.c.locale,
                CUSTOMERS.c.loyalty_tier,
                CUSTOMERS.c.timezone,
                CUSTOMERS.c.attributes,
            ).where(CUSTOMERS.c.id.in_(ids))
        )
    }
    identities: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in await conn.execute(
        select(IDENTITIES.c.customer_id, IDENTITIES.c.kind, IDENTITIES.c.value)
        .where(IDENTITIES.c.customer_id.in_(ids))
        .order_by(IDENTITIES.c.id)
    ):
        identities[row.customer_id].append((row.kind, row.value))
    sends: dict[str, list[SentMessage]] = defaultdict(list)
    for row in await conn.execute(
        select(SENDS.c.customer_id, SENDS.c.channel, SENDS.c.purpose, SENDS.c.sent_at).where(
            SENDS.c.customer_id.in_(ids),
            SENDS.c.status == "sent",
            SENDS.c.sent_at > at - SEND_LOOKBACK,
        )
    ):
        sends[row.customer_id].append(
            SentMessage(channel=row.channel, purpose=row.purpose, sent_at=row.sent_at)
        )
    conversations: dict[str, list[ConversationState]] = defaultdict(list)
    for row in await conn.execute(
        select(
            CONVERSATIONS.c.customer_id,
            CONVERSATIONS.c.channel,
            CONVERSATIONS.c.owner,
            CONVERSATIONS.c.last_inbound_at,
        ).where(CONVERSATIONS.c.customer_id.in_(ids))
    ):
        conversations[row.customer_id].append(
            ConversationState(
                channel=row.channel, owner=row.owner, last_inbound_at=row.last_inbound_at
            )
        )
    consents: dict[str, list[ConsentState]] = defaultdict(list)
    for customer_id, history in (await consent_histories(session, ids)).items():
        consents[customer_id] = [
            ConsentState(channel=c.channel, purpose=c.purpose, status=c.status)
            for c in current_consents(history)
            if c.channel in Channel._value2member_map_
        ]
    traits = await load_traits(session, ids)
    scores = await current_scores(conn, {cid: traits.get(cid) for cid in ids}, at)

    contexts = {}
    for customer_id in ids:
        customer = customers[customer_id]
        mine = identities[customer_id]
        state = traits.get(customer_id)
        contexts[customer_id] = CustomerContext(
            customer_id=customer_id,
            first_name=customer.first_name,
            locale=customer.locale,
            loyalty_tier=customer.loyalty_tier,
            timezone=customer.timezone,
            phone=next((value for kind, value in mine if kind == "phone"), None),
            reachable=reachable_channels(kind for kind, _ in mine),
            consents=consents[customer_id],
            sends=sends[customer_id],
            conversations=conversations[customer_id],
            purchases=[
                Purchase(
                    product_id=pid,
                    last_purchased_at=datetime.fromisoformat(entry["last_at"]),
                    category=entry.get("category"),
                )
                for pid, entry in (state.purchased_products if state else {}).items()
            ],
            order_count=state.order_count if state else 0,
            discounted_order_count=state.discounted_order_count if state else 0,
            preferred_channel=_preferred_channel(customer.attributes),
            own_quiet_hours=_own_quiet_hours(customer.attributes),
            cart=_cart_lines(state.cart if state else {}),
            category_affinity=dict(state.category_affinity) if state else {},
            lifetime_value=_lifetime_value(state),
            last_order_at=state.last_order_at if state else None,
            last_seen_at=state.last_seen_at if state else None,
            event_count=state.event_count if state else 0,
            refund_count=state.refund_count if state else 0,
            scores={name: view.value for name, view in scores[customer_id].items()},
            learned_scores=frozenset(
                name
                for name, view in scores[customer_id].items()
                if view.model_version != PRIOR_VERSION
            ),
        )
    return contexts


def _lifetime_value(state: TraitState | None) -> dict[str, float]:
    if state is None:
        return {}
    currencies = set(state.spent) | set(state.refunded)
    return {
        c: round(state.spent.get(c, 0.0) - state.refunded.get(c, 0.0), 2)
        for c in sorted(currencies)
    }


def _cart_lines(cart: dict[str, Any]) -> list[CartLine]:
    """The open cart: lines with a positive quantity, most recently changed first."""
    lines = [
        (str(line.get("updated_at") or ""), pid, line)
        for pid, line in cart.get("lines", {}).items()
        if line.get("quantity", 0) > 0
    ]
    return [
        CartLine(
            product_id=pid,
            quantity=int(line["quantity"]),
            price=line.get("price"),
            currency=line.get("currency"),
        )
        for _, pid, line in sorted(lines, key=lambda item: item[0], reverse=True)
    ]


def _preferred_channel(attributes: dict[str, Any]) -> Channel | None:
    value = attributes.get("preferred_channel")
    return Channel(str(value)) if value in Channel._value2member_map_ else None


def _own_quiet_hours(attributes: dict[str, Any]) -> OwnQuietHours | None:
    """The shopper's own quiet hours (``{"start": "22:00", "end": "08:00"}``) if well formed;
    anything else written into the profile is ignored rather than trusted."""
    try:
        return OwnQuietHours.model_validate(attributes.get("quiet_hours"))
    except ValidationError:
        return None
