"""Webhook benchmark: ack latency and accepted messages/s with 50 concurrent senders, and the
end-to-end time from webhook to the (fake) Telegram API receiving the reply.

The same load is sent to a bare FastAPI endpoint doing nothing, in the same run, for the ratio.
Run: `.venv/bin/python -m bench.webhooks`; writes bench/results/webhooks.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.server import ROOT, free_port, rss_mb, running_app
from tests.fake_providers.server import serve
from tests.fake_providers.telegram_api import FakeTelegramApi

MESSAGES = 3_000
SENDERS = 50
TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = "bench-secret"


def update(n: int) -> dict[str, Any]:
    chat = 10_000 + n  # one conversation per message: the worker runs them concurrently
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
            "text": f"message {n}",
        },
    }


async def load(url: str) -> tuple[list[float], dict[int, float], float]:
    """Returns ack latencies (ms), send start per chat id, and accepted messages/s."""
    started: dict[int, float] = {}
    acks: list[float] = []
    queue = list(range(MESSAGES))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def sender(http: httpx.AsyncClient) -> None:
        while queue:
            n = queue.pop()
            body = update(n)
            t0 = time.monotonic()
            started[body["message"]["chat"]["id"]] = t0
            response = await http.post("/webhooks/telegram", json=body, headers=headers)
            acks.append((time.monotonic() - t0) * 1000)
            response.raise_for_status()

    limits = httpx.Limits(max_connections=SENDERS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        t0 = time.monotonic()
        await asyncio.gather(*(sender(http) for _ in range(SENDERS)))
        elapsed = time.monotonic() - t0
    return acks, started, MESSAGES / elapsed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class FakeTelegramThread:
    """The fake Bot API in its own thread and loop, so the load generator does not slow it."""

    def __init__(self) -> None:
        self.api = FakeTelegramApi()
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        async with serve(self.api.app) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeTelegramThread:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def run_app() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramThread() as fake:
        env = {
            "CHATCOMMERCE_DATA_DIR": tmp,
            "CHATCOMMERCE_WRITE_KEY": "bench",
            "CHATCOMMERCE_TELEGRAM_BOT_TOKEN": TOKEN,
            "CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "CHATCOMMERCE_TELEGRAM_API_URL": fake.url,
            "CHATCOMMERCE_CONVERSATION_BURST_SECONDS": "0",
        }
        with running_app(env) as (url, proc):
            acks, started, rate = asyncio.run(load(url))
            deadline = time.monotonic() + 120
            while len(fake.api.sent) < MESSAGES and time.monotonic() < deadline:
                time.sleep(0.1)
            rss = rss_mb(proc.pid)
        replies = {int(call.params["chat_id"]): call.received_at for call in fake.api.sent}
    end_to_end = [(replies[chat] - t0) * 1000 for chat, t0 in started.items() if chat in replies]
    return {
        "accepted_per_s": round(rate),
        "ack_p50_ms": round(pct(acks, 50), 2),
        "ack_p99_ms": round(pct(acks, 99), 2),
        "replies_received": len(replies),
        "duplicate_replies": len(fake.api.sent) - len(replies),
        "end_to_end_p50_ms": round(pct(end_to_end, 50), 1),
        "end_to_end_p99_ms": round(pct(end_to_end, 99), 1),
        "server_rss_mb": round(rss),
    }


def run_bare() -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "bench.bare_endpoint:app"),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.post(url + "/webhooks/telegram")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        acks, _, rate = asyncio.run(load(url))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "accepted_per_s": round(rate),
        "ack_p50_ms": round(pct(acks, 50), 2),
        "ack_p99_ms": round(pct(acks, 99), 2),
    }


def main() -> None:
    bare = run_bare()
    app = run_app()
    result = {
        "messages": MESSAGES,
        "senders": SENDERS,
        "bare_fastapi": bare,
        "webhook_sqlite": app,
        "rate_ratio_to_bare": round(app["accepted_per_s"] / bare["accepted_per_s"], 3),
        "ack_p99_ratio_to_bare": round(app["ack_p99_ms"] / bare["ack_p99_ms"], 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
