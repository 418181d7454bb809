"""What the graph reads about the shopper at the start of a turn (profile summary, which of the
marketer's audiences they are in), what it writes back (the language they write in) and the one
thing it does on its own (hand a shopper outside the agent's audience to a person). Behind a
small protocol so the graph runs without a database in unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from policy.audiences import audiences_of
from policy.context_loader import load_context
from profile_store.database import run_transaction
from profile_store.ingest import ValidatedEvent, ingest_events
from profile_store.models import Channel
from profile_store.schemas import CustomerRef, EventIn, IdentifyProps
from tools.agent_tools.handoff import HandoffRequest, handoff_to_human
from tools.agent_tools.profile import ShopperFacts, shopper_facts
from tools.agent_tools.shopper import Shopper, ToolServices


class ShopperContext(Protocol):
    async def facts(self, customer_id: str, channel: str) -> ShopperFacts | None: ...

    async def store_locale(self, customer_id: str, locale: str, now: datetime) -> None: ...

    async def audiences(
        self, customer_id: str, rules: Mapping[str, str], now: datetime
    ) -> frozenset[str]: ...

    async def hand_to_person(
        self, customer_id: str, channel: str, conversation_id: str, reason: str, now: datetime
    ) -> None: ...


class ProfileContext:
    """The profile store behind :class:`ShopperContext`."""

    def __init__(self, services: ToolServices) -> None:
        self.services = services

    async def facts(self, customer_id: str, channel: str) -> ShopperFacts | None:
        return await shopper_facts(
            self.services, Shopper(customer_id=customer_id, channel=Channel(channel))
        )

    async def store_locale(self, customer_id: str, locale: str, now: datetime) -> None:
        """The ``locale`` trait, through ordinary ingestion (dated, newest wins)."""
        digest = hashlib.sha256(f"{customer_id}:{locale}".encode()).hexdigest()[:12]
        event = EventIn(
            event_id=f"agent-locale:{customer_id}:{now.isoformat()}:{digest}",
            type="identify",
            customer=CustomerRef(customer_id=customer_id),
            properties={"locale": locale},
            occurred_at=now,
        )
        item = ValidatedEvent(0, event, IdentifyProps(locale=locale))

        async def store(session: AsyncSession) -> None:
            await ingest_events(session, [item], now=now)

        await run_transaction(self.services.writers, store, name="agent.store_locale")

    async def audiences(
        self, customer_id: str, rules: Mapping[str, str], now: datetime
    ) -> frozenset[str]:
        """Evaluated on the same context the decision engine reads, so a program and the agent
        agree on who is in an audience."""
        async with self.services.readers() as session:
            context = await load_context(session, customer_id, at=now)
        return audiences_of(rules, context, now)

    async def hand_to_person(
        self, customer_id: str, channel: str, conversation_id: str, reason: str, now: datetime
    ) -> None:
        shopper = Shopper(
            customer_id=customer_id, channel=Channel(channel), conversation_id=conversation_id
        )
        await handoff_to_human(self.services, shopper, HandoffRequest(reason=reason), now)
