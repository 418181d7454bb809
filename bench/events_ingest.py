"""Events API benchmark: ingestion rate, event-to-visible latency, ratio to raw SQL inserts.

Run: `.venv/bin/python bench/events_ingest.py` (PostgreSQL on 127.0.0.1:5432 for the PG rows).
Prints a table and writes bench/results/events_ingest.json.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.server import rss_mb, running_app

WRITE_KEY = "bench-key"
BATCHES = 200
BATCH_SIZE = 100
CONCURRENCY = 4
CUSTOMERS = 2_000
VISIBILITY_SAMPLES = 500
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    # Recent times, as a live shop sends them: no trigger window ends during the run.
    start = datetime.now(UTC) - timedelta(minutes=20)
    events = []
    for _ in range(n):
        phone = f"+1555{rng.randrange(CUSTOMERS):07d}"
        kind = rng.choices(
            ["product_viewed", "added_to_cart", "order_completed", "message_opened"], [6, 3, 1, 1]
        )[0]
        props: dict[str, Any]
        if kind == "order_completed":
            props = {
                "order_id": uuid.uuid4().hex,
                "total": 59.0,
                "currency": "USD",
                "items": [
                    {"product_id": f"sku-{rng.randrange(500)}", "quantity": 1, "price": 59.0}
                ],
            }
        elif kind == "message_opened":
            props = {"channel": rng.choice(["sms", "whatsapp", "telegram"])}
        else:
            props = {
                "product_id": f"sku-{rng.randrange(500)}",
                "price": 59.0,
                "currency": "USD",
                "category": rng.choice(["Shoes", "Coats", "Bags", "Home"]),
            }
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "type": kind,
                "customer": {"phone": phone},
                "properties": props,
                "occurred_at": (start + timedelta(seconds=rng.randrange(1_200))).isoformat(),
            }
        )
    return events


async def ingest_rate(url: str, events: list[dict[str, Any]]) -> float:
    batches = [events[i : i + BATCH_SIZE] for i in range(0, len(events), BATCH_SIZE)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}

    async def sender(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await http.post("/v1/events", json={"batch": batch}, headers=headers)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        start = time.perf_counter()
        await asyncio.gather(*(sender(http) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    return len(events) / elapsed


async def visibility(url: str) -> tuple[float, float]:
    """From the POST returning to GET /v1/profiles showing the new cart line, in ms."""
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    samples = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        for i in range(VISIBILITY_SAMPLES):
            phone = f"+1556{i:07d}"
            body = {
                "event_id": uuid.uuid4().hex,
                "type": "added_to_cart",
                "customer": {"phone": phone},
                "properties": {"product_id": f"vis-{i}", "price": 10.0, "currency": "USD"},
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            (await http.post("/v1/events", json=body)).raise_for_status()
            returned = time.perf_counter()
            while True:
                profile = (await http.get(f"/v1/profiles/{phone}")).json()
                lines = profile["traits"]["open_cart"]["items"]
                if any(line["product_id"] == f"vis-{i}" for line in lines):
                    break
            samples.append((time.perf_counter() - returned) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def raw_rows(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (uuid.uuid4().hex, "cus_raw", e["type"], json.dumps(e["properties"]), e["occurred_at"])
        for e in events
    ]


def raw_sqlite_rate(path: Path, events: list[dict[str, Any]]) -> float:
    rows = raw_rows(events)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "INSERT INTO customers (id, created_at, updated_at, attributes, field_times) "
        "VALUES ('cus_raw', '2026-01-01', '2026-01-01', '{}', '{}')"
    )
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH_SIZE):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO events (event_id, customer_id, type, properties, occurred_at, "
            "received_at) VALUES (?, ?, ?, ?, ?, datetime('now'))",
            rows[i : i + BATCH_SIZE],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def raw_pg_rate(dsn: str, events: list[dict[str, Any]]) -> float:
    rows = raw_rows(events)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO customers (id, created_at, updated_at, attributes, field_times) "
            "VALUES ('cus_raw', now(), now(), '{}', '{}')"
        )
        conn.commit()
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH_SIZE):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (event_id, customer_id, type, properties, occurred_at, "
                    "received_at) VALUES (%s, %s, %s, %s, %s, now())",
                    rows[i : i + BATCH_SIZE],
                )
            conn.commit()
        return len(rows) / (time.perf_counter() - start)


def run_backend(name: str) -> dict[str, Any]:
    events = make_events(BATCHES * BATCH_SIZE, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CHATCOMMERCE_DATA_DIR": tmp, "CHATCOMMERCE_WRITE_KEY": WRITE_KEY}
        pg_name = f"cc_bench_{uuid.uuid4().hex[:8]}"
        if name == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{pg_name}"')
            env["CHATCOMMERCE_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
        try:
            with running_app(env) as (url, proc):
                rate = asyncio.run(ingest_rate(url, events))
                p50, p99 = asyncio.run(visibility(url))
                rss = rss_mb(proc.pid)
            raw_events = make_events(BATCHES * BATCH_SIZE, seed=2)
            if name == "sqlite":
                raw = raw_sqlite_rate(Path(tmp) / "chatcommerce.db", raw_events)
            else:
                raw = raw_pg_rate(env["CHATCOMMERCE_DATABASE_URL"], raw_events)
        finally:
            if name == "postgresql":
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    return {
        "backend": name,
        "api_events_per_s": round(rate),
        "raw_insert_events_per_s": round(raw),
        "api_to_raw_ratio": round(rate / raw, 3),
        "visible_p50_ms": round(p50, 2),
        "visible_p99_ms": round(p99, 2),
        "server_rss_mb": round(rss),
    }


def main() -> None:
    results = [run_backend("sqlite"), run_backend("postgresql")]
    print(
        f"{BATCHES} batches x {BATCH_SIZE} events, {CONCURRENCY} concurrent senders, "
        f"{CUSTOMERS} customers; visibility over {VISIBILITY_SAMPLES} samples"
    )
    header = list(results[0])
    print(" | ".join(header))
    for row in results:
        print(" | ".join(str(row[h]) for h in header))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "events_ingest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
