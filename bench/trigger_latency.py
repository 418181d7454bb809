"""Trigger latency: from a cart-abandoned window ending to its decision being committed.

Run: `.venv/bin/python -m bench.trigger_latency`. Starts the real app (workers on, default
poll), posts cart events whose 30-minute window ends a few seconds later, and watches the
SQLite file from outside (a reader every 10 ms) for each decision to appear: latency = when it
became visible - when its window ended.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.server import running_app

WRITE_KEY = "bench-key"
CUSTOMERS = 200


def watch_decisions(db: Path, expected: int, timeout: float) -> dict[str, datetime]:
    """When each customer's first decision became visible to another process."""
    seen: dict[str, datetime] = {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT i.value FROM decisions d JOIN identities i ON i.customer_id = d.customer_id "
            "WHERE i.kind = 'phone'"
        ).fetchall()
        at = datetime.now(UTC)
        for (phone,) in rows:
            seen.setdefault(phone, at)
        time.sleep(0.01)
    conn.close()
    if len(seen) < expected:
        raise RuntimeError(f"only {len(seen)} of {expected} decisions within {timeout} s")
    return seen


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CHATCOMMERCE_DATA_DIR": tmp, "CHATCOMMERCE_WRITE_KEY": WRITE_KEY}
        with running_app(env) as (url, _proc):
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {WRITE_KEY}"})
            # Windows end 3 to 8 seconds from now, spread out.
            now = datetime.now(UTC)
            ends = {}
            batch = []
            for n in range(CUSTOMERS):
                phone = f"+1212{n:07d}"
                end = now + timedelta(seconds=3 + 5 * n / CUSTOMERS)
                ends[phone] = end
                occurred = end - timedelta(minutes=30)
                batch += [
                    {
                        "event_id": uuid.uuid4().hex,
                        "type": "consent_changed",
                        "customer": {"phone": phone},
                        "occurred_at": occurred.isoformat(),
                        "properties": {
                            "channel": "sms",
                            "purpose": "marketing",
                            "status": "granted",
                        },
                    },
                    {
                        "event_id": uuid.uuid4().hex,
                        "type": "added_to_cart",
                        "customer": {"phone": phone},
                        "occurred_at": occurred.isoformat(),
                        "properties": {"product_id": "p", "price": 1.0},
                    },
                ]
            http.post("/v1/events", json={"batch": batch}).raise_for_status()
            seen = watch_decisions(Path(tmp) / "chatcommerce.db", CUSTOMERS, timeout=30)
            latencies = [(seen[phone] - end).total_seconds() * 1000 for phone, end in ends.items()]
    latencies.sort()
    result = {
        "timers": CUSTOMERS,
        "p50_ms": round(statistics.median(latencies)),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1]),
        "max_ms": round(latencies[-1]),
    }
    print("trigger latency, window end -> decision committed (embedded scheduler, SQLite)")
    print(result)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "trigger_latency.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
