"""Several workers on one database: every due send goes out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import load_guardrails
from profile_store.models import Consent, Customer, Identity, ScheduledSend
from scheduler.dispatch import DispatchResult, OutboundSend
from scheduler.embedded import EmbeddedScheduler

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # 10:00 in New York


class SlowDispatcher:
    """Counts dispatches per send, taking a moment like a real provider call."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        await asyncio.sleep(0.02)  # long enough that the other worker claims meanwhile
        self.counts[send.send_id] += 1
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def seed(sessions: async_sessionmaker[AsyncSession], n: int) -> None:
    async with sessions() as session, session.begin():
        conn = await session.connection()
        ids = [f"cus_{i:04d}" for i in range(n)]
        await conn.execute(
            insert(Customer.__table__),  # type: ignore[attr-defined]
            [
                {"id": c, "created_at": NOW, "updated_at": NOW, "attributes": {}, "field_times": {}}
                for c in ids
            ],
        )
        await conn.execute(
            insert(Identity.__table__),  # type: ignore[attr-defined]
            [
                {
                    "customer_id": c,
                    "kind": "phone",
                    "value": f"+1212555{i:04d}",
                    "verified": True,
                    "created_at": NOW,
                }
                for i, c in enumerate(ids)
            ],
        )
        await conn.execute(
            insert(Consent.__table__),  # type: ignore[attr-defined]
            [
                {
                    "customer_id": c,
                    "channel": "sms",
                    "purpose": "marketing",
                    "status": "granted",
                    "source": "test",
                    "occurred_at": NOW - timedelta(days=1),
                    "recorded_at": NOW,
                }
                for c in ids
            ],
        )
        await conn.execute(
            insert(ScheduledSend.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": f"snd_{c}",
                    "idempotency_key": f"k:{c}",
                    "customer_id": c,
                    "channel": "sms",
                    "purpose": "marketing",
                    "program": "price_drop",
                    "product_ids": [],
                    "payload": {"text": "hi"},
                    "due_at": NOW - timedelta(minutes=1),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for c in ids
            ],
        )


async def test_two_workers_send_each_due_send_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 300)
    counts: Counter[str] = Counter()
    rules = load_guardrails()
    workers = [
        EmbeddedScheduler(sessions, SlowDispatcher(counts), lambda: rules, batch=40)
        for _ in range(2)
    ]

    async def drain(worker: EmbeddedScheduler) -> int:
        handled = 0
        while n := await worker.send_due(NOW):
            handled += n
        return handled

    handled = await asyncio.gather(*(drain(w) for w in workers))
    assert sum(handled) == 300
    assert all(h > 0 for h in handled)  # both took part
    assert len(counts) == 300 and set(counts.values()) == {1}
