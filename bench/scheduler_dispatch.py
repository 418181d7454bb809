"""Scheduler benchmark: due sends dispatched per second, each re-checked for eligibility.

Run: `.venv/bin/python -m bench.scheduler_dispatch`. Seeds N customers (consented, New York
area code, outside quiet hours) each with one due send, then lets the embedded scheduler send
them all to an in-process dispatcher that only counts. Also reports resident memory and that
every send went out exactly once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select

from app.settings import Settings
from bench.server import rss_mb
from policy.content import ContentProduct, MessageContent
from policy.guardrails import load_guardrails
from policy.rendering import RenderedMessage
from policy.rendering import render_message as real_render
from profile_store import clock
from profile_store.clock import FixedClock
from profile_store.database import create_engine, session_factory, transaction
from profile_store.migrate import upgrade
from profile_store.models import Consent, Customer, Decision, Identity, ScheduledSend
from scheduler import sender
from scheduler.dispatch import DispatchResult, OutboundSend
from scheduler.distributed import DistributedScheduler
from scheduler.embedded import EmbeddedScheduler
from scheduler.links import TrackedLinks

SIZES = (2_000, 20_000)
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
CONSENTS = Consent.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
# 15:00 UTC on a weekday: 10:00 in New York, outside quiet hours.
NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)


class CountingDispatcher:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        self.seen[send.send_id] = self.seen.get(send.send_id, 0) + 1
        return DispatchResult(ok=True, provider_message_id=send.send_id)


CONTENT = MessageContent(
    program="browse_abandoned",
    products=[
        ContentProduct(
            product_id="run-001",
            name="Kestrel Storm Running Shoes",
            price=96.99,
            currency="USD",
            url="https://demo.chatcommerce.dev/p/run-001",
            image_url="https://demo.chatcommerce.dev/img/run-001.jpg",
        ),
        ContentProduct(product_id="run-002", name="Kestrel Tempo", price=89.0, currency="USD"),
    ],
).model_dump(mode="json")


async def seed(url: str, n: int, *, content: bool = False) -> None:
    """``n`` due marketing SMS; with ``content``, each a browse reminder with two products (its
    copy rendered and its link tracked at send time), else a plain stored text."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    for start in range(0, n, 5_000):
        rows = range(start, min(n, start + 5_000))
        ids = [f"cus_{uuid.uuid4().hex}" for _ in rows]
        async with transaction(sessions) as session:
            conn = await session.connection()
            await conn.execute(
                insert(CUSTOMERS),
                [
                    {
                        "id": cid,
                        "created_at": NOW,
                        "updated_at": NOW,
                        "attributes": {},
                        "field_times": {},
                    }
                    for cid in ids
                ],
            )
            await conn.execute(
                insert(IDENTITIES),
                [
                    {
                        "customer_id": cid,
                        "kind": "phone",
                        "value": f"+1212{i:07d}",
                        "verified": True,
                        "created_at": NOW,
                    }
                    for i, cid in zip(rows, ids, strict=True)
                ],
            )
            await conn.execute(
                insert(CONSENTS),
                [
                    {
                        "customer_id": cid,
                        "channel": "sms",
                        "purpose": "marketing",
                        "status": "granted",
                        "source": "bench",
                        "occurred_at": NOW - timedelta(days=1),
                        "recorded_at": NOW,
                    }
                    for cid in ids
                ],
            )
            await conn.execute(
                insert(DECISIONS),
                [
                    {
                        "id": f"dec_{cid}",
                        "customer_id": cid,
                        "trigger": "price_drop",
                        "program": "price_drop",
                        "action": "send_message",
                        "channel": "sms",
                        "product_ids": [],
                        "verdict": "scheduled",
                        "reasons": [],
                        "held_out": False,
                        "details": {},
                        "outcome_reasons": [],
                        "created_at": NOW,
                    }
                    for cid in ids
                ],
            )
            await conn.execute(
                insert(SENDS),
                [
                    {
                        "id": f"snd_{cid}",
                        "idempotency_key": f"bench:{cid}",
                        "decision_id": f"dec_{cid}",
                        "customer_id": cid,
                        "channel": "sms",
                        "purpose": "marketing",
                        "program": "browse_abandoned" if content else "price_drop",
                        "product_ids": [],
                        "payload": (
                            {"content": CONTENT, "variant": "default"}
                            if content
                            else {"text": "Price drop!"}
                        ),
                        "due_at": NOW - timedelta(minutes=1),
                        "status": "pending",
                        "attempts": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for cid in ids
                ],
            )
    await engine.dispose()


def timed_rendering(durations: list[float]) -> Callable[..., RenderedMessage]:
    """``render_message`` that notes how long each call takes."""

    def timed(*args: Any, **kwargs: Any) -> RenderedMessage:
        start = time.perf_counter()
        try:
            return real_render(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    return timed


async def run(n: int, *, content: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))
        await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
        await seed(settings.sqlalchemy_url, n, content=content)
        engine = create_engine(settings.sqlalchemy_url)
        sessions = session_factory(engine)
        outbox = CountingDispatcher()
        rules = load_guardrails()
        links = TrackedLinks("https://shop.example") if content else None
        scheduler = EmbeddedScheduler(sessions, outbox, lambda: rules, batch=1000, links=links)
        durations: list[float] = []
        sender.render_message = timed_rendering(durations)  # type: ignore[attr-defined]
        start = time.perf_counter()
        try:
            while await scheduler.send_due(NOW):
                pass
        finally:
            sender.render_message = real_render  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - start
        async with sessions() as session:
            conn = await session.connection()
            sent = (
                await conn.execute(
                    select(func.count()).select_from(SENDS).where(SENDS.c.status == "sent")
                )
            ).scalar_one()
            # The program's holdout keeps its share back at send time: counted, not lost.
            held_out = (
                await conn.execute(
                    select(func.count())
                    .select_from(SENDS)
                    .where(SENDS.c.status == "suppressed", SENDS.c.last_error.startswith("holdout"))
                )
            ).scalar_one()
        await engine.dispose()
    render = sorted(durations)
    return {
        "sends": n,
        "content": "rendered copy, two product cards, tracked links" if content else "stored text",
        "sends_per_s": round(n / elapsed),
        "render_us_p50": round(render[len(render) // 2] * 1e6, 1) if render else None,
        "render_us_p99": round(render[int(len(render) * 0.99)] * 1e6, 1) if render else None,
        "sent": sent,
        "held_out": held_out,
        "dispatched_twice": sum(1 for c in outbox.seen.values() if c > 1),
        "lost": n - len(outbox.seen) - held_out,
        "rss_mb": round(rss_mb(__import__("os").getpid())),
    }


DISTRIBUTED_SENDS = 5_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def work(url: str) -> dict[str, int]:
    """One procrastinate worker process: run jobs until the queue is empty."""
    engine = create_engine(url)
    outbox = CountingDispatcher()
    rules = load_guardrails()
    clock.install(FixedClock(NOW))
    scheduler = DistributedScheduler(session_factory(engine), outbox, lambda: rules, url)
    await scheduler.open()
    await scheduler.app.run_worker_async(concurrency=16, wait=False, install_signal_handlers=False)
    await scheduler.stop()
    await engine.dispose()
    return outbox.seen


async def relay(url: str) -> float:
    engine = create_engine(url)
    rules = load_guardrails()
    scheduler = DistributedScheduler(
        session_factory(engine), CountingDispatcher(), lambda: rules, url, batch=1000
    )
    start = time.perf_counter()
    while await scheduler.send_due(NOW):
        pass
    elapsed = time.perf_counter() - start
    await scheduler.stop()
    await engine.dispose()
    return elapsed


def run_distributed(workers: int) -> dict[str, object]:
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/" + name
    try:
        upgrade(url)
        asyncio.run(seed(url, DISTRIBUTED_SENDS))
        relay_s = asyncio.run(relay(url))
        with tempfile.TemporaryDirectory() as tmp:
            outs = [Path(tmp) / f"worker-{i}.json" for i in range(workers)]
            start = time.perf_counter()
            procs = [
                subprocess.Popen([sys.executable, "-m", "bench.scheduler_dispatch", url, str(o)])
                for o in outs
            ]
            for proc in procs:
                proc.wait()
            elapsed = time.perf_counter() - start
            seen: dict[str, int] = {}
            per_worker = []
            for out in outs:
                counts = json.loads(out.read_text())
                per_worker.append(len(counts))
                for key, count in counts.items():
                    seen[key] = seen.get(key, 0) + count
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "backend": f"procrastinate, {workers} worker process(es)",
        "sends": DISTRIBUTED_SENDS,
        "relayed_per_s": round(DISTRIBUTED_SENDS / relay_s),
        "sends_per_s": round(DISTRIBUTED_SENDS / elapsed),
        "per_worker": per_worker,
        "dispatched_twice": sum(1 for c in seen.values() if c > 1),
        "lost": DISTRIBUTED_SENDS - len(seen),
    }


def main() -> None:
    if len(sys.argv) == 3:  # a worker process of run_distributed
        seen = asyncio.run(work(sys.argv[1]))
        Path(sys.argv[2]).write_text(json.dumps(seen))
        return
    results: list[dict[str, object]] = [
        asyncio.run(run(n, content=content)) for n in SIZES for content in (False, True)
    ]
    results += [run_distributed(1), run_distributed(2)]
    print("eligibility re-checked per send; embedded on SQLite, procrastinate on PostgreSQL")
    for row in results:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "scheduler_dispatch.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
