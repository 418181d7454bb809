"""What the graph reads about the shopper at the start of a turn, and the one fact it writes back
(the language they write in). Behind a small protocol so the graph runs without a database in
unit tests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

from profile_store.database import transaction
from profile_store.ingest import ValidatedEvent, ingest_events
from profile_store.models import Channel
from profile_store.schemas import CustomerRef, EventIn, IdentifyProps
from tools.agent_tools.profile import ShopperFacts, shopper_facts
from tools.agent_tools.shopper import Shopper, ToolServices


class ShopperContext(Protocol):
    async def facts(self, customer_id: str, channel: str) -> ShopperFacts | None: ...

    async def store_locale(self, customer_id: str, locale: str, now: datetime) -> None: ...


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
        async with transaction(self.services.writers) as session:
            await ingest_events(session, [item], now=now)
