"""Several workers on one database: every due send goes out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import load_guardrails
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.models import Consent, Customer, Identity, ScheduledSend
from scheduler.dispatch import DispatchResult, OutboundSend
from scheduler.embedded import SENDS, EmbeddedScheduler

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # 10:00 in New York


class SlowDispatcher:
    """Counts dispatches per send, taking a moment like a real provider call."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        await asyncio.sleep(0.02)  # long enough that the other worker claims meanwhile
        self.counts[send.send_id] += 1
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def seed(sessions: async_sessionmaker[AsyncSession], n: int, *, channel: str = "sms") -> None:
    """``n`` customers with one due send each: marketing SMS to New York numbers, or on
    Telegram a service message (which no quiet hours hold back, whatever the real hour: a
    worker process runs on the wall clock)."""
    kind, purpose = ("phone", "marketing") if channel == "sms" else ("telegram_id", "transactional")
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
                    "kind": kind,
                    "value": f"+1212555{i:04d}" if kind == "phone" else str(7000 + i),
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
                    "channel": channel,
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
                    "channel": channel,
                    "purpose": purpose,
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


class SlowProvider:
    """A provider that takes longer to answer than a worker's lease lasts."""

    def __init__(self, counts: Counter[str], seconds: float) -> None:
        self.counts = counts
        self.seconds = seconds

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        self.counts[send.send_id] += 1
        await asyncio.sleep(self.seconds)
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def test_a_provider_slower_than_the_lease_still_gets_each_send_once(
    sessions: async_sessionmaker[AsyncSession], test_clock: ShiftedClock
) -> None:
    test_clock.set(NOW)
    await seed(sessions, 24)
    counts: Counter[str] = Counter()
    rules = load_guardrails()
    lease = timedelta(seconds=3)  # renewed every second; a loaded machine stalls less than that
    workers = [
        EmbeddedScheduler(
            sessions, SlowProvider(counts, 4.0), lambda: rules, lease=lease, concurrency=8
        )
        for _ in range(2)
    ]

    async def keep_polling(worker: EmbeddedScheduler) -> None:
        # Like a deployed worker: poll on the clock while the other one's waves are in flight.
        while sum(counts.values()) < 24:
            await worker.send_due(clock.now())
            await asyncio.sleep(0.05)

    await asyncio.wait_for(asyncio.gather(*(keep_polling(w) for w in workers)), 60)
    await asyncio.sleep(2.0)  # a lease lost mid-wave would show up as a second round
    await asyncio.gather(*(w.send_due(clock.now()) for w in workers))
    assert len(counts) == 24 and set(counts.values()) == {1}
    async with sessions() as session:
        conn = await session.connection()
        rows = (await conn.execute(select(SENDS.c.status, SENDS.c.lease_token))).all()
    assert {(row.status, row.lease_token) for row in rows} == {("sent", None)}


class WatchingDispatcher:
    """Notes, at each dispatch, how many earlier dispatches are not yet recorded as sent."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.dispatched = 0
        self.unrecorded: list[int] = []

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        before = self.dispatched
        self.dispatched += 1
        async with self.sessions() as session:
            conn = await session.connection()
            sent = select(SENDS.c.id).where(SENDS.c.status == "sent")
            recorded = len((await conn.execute(sent)).all())
        self.unrecorded.append(before - recorded)
        await asyncio.sleep(0.001 * (self.dispatched % 7))  # answers come back out of order
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def test_outcomes_are_committed_as_the_batch_goes_not_at_its_end(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A worker killed mid-batch can send again only what is on the wire or awaiting its
    commit: at most three times the concurrency, never the whole batch."""
    await seed(sessions, 200)
    rules = load_guardrails()
    watching = WatchingDispatcher(sessions)
    worker = EmbeddedScheduler(sessions, watching, lambda: rules, batch=200, concurrency=8)
    assert await worker.send_due(NOW) == 200
    assert watching.dispatched == 200
    assert max(watching.unrecorded) <= 3 * 8
    assert watching.unrecorded[-1] < 200 - 3 * 8  # earlier outcomes were already committed
