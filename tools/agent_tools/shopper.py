"""Who a tool acts for, and what it may use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import Guardrails
from profile_store.models import Channel
from tools.catalog.store import Catalog


@dataclass(frozen=True)
class Shopper:
    """Set by the conversation pipeline from identity resolution; never by the model."""

    customer_id: str
    channel: Channel
    conversation_id: str | None = None
    effect_key: str | None = None  # one per tool call of a turn, the same when the turn is retried


@dataclass(frozen=True)
class ToolServices:
    """``readers`` for lookups (no write lock on SQLite), ``sessions`` for the few tools that
    write (offers, follow-ups, preferences, handoff)."""

    readers: async_sessionmaker[AsyncSession]
    catalog: Callable[[], Awaitable[Catalog]] | None
    rules: Callable[[], Guardrails]
    sessions: async_sessionmaker[AsyncSession] | None = None
    # A shop webhook is configured: confirmed order requests go to the shop, else to a person.
    shop_requests: bool = False

    @property
    def writers(self) -> async_sessionmaker[AsyncSession]:
        return self.sessions or self.readers
