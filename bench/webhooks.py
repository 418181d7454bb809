"""Webhook benchmark: ack latency and accepted messages/s with 50 concurrent senders, and the
end-to-end time from webhook to the (fake) Telegram API receiving the reply.

The same load is sent to a bare FastAPI endpoint doing nothing, in the same run, for the ratio.
Run: `.venv/bin/python -m bench.webhooks`; writes bench/results/webhooks.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.server import ROOT, free_port, rss_mb, running_app

MESSAGES = 3_000
SENDERS = 50
PACED_MESSAGES = 400
PACED_RATE = 20.0
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


async def paced(url: str, first: int, count: int, rate: float) -> dict[int, float]:
    """Open-loop load below capacity: ``rate`` messages/s whatever the answers take."""
    started: dict[int, float] = {}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(n: int) -> None:
            body = update(n)
            started[body["message"]["chat"]["id"]] = time.monotonic()
            (await http.post("/webhooks/telegram", json=body, headers=headers)).raise_for_status()

        tasks = []
        for n in range(first, first + count):
            tasks.append(asyncio.create_task(one(n)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    return started


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


@contextmanager
def fake_telegram(tmp: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    out = Path(tmp) / "arrivals.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._fake_telegram", str(port), str(out)], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + f"/bot{TOKEN}/getMe")
        yield url, out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def wait_until_up(url: str) -> None:
    for _ in range(600):
        try:
            httpx.post(url)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def run_app(handler: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        with (
            fake_telegram(tmp) as (fake_url, arrivals_file),
            running_app(env(tmp, fake_url) | {"CHATCOMMERCE_CONVERSATION_HANDLER": handler}) as (
                url,
                proc,
            ),
        ):
            steady = asyncio.run(paced(url, MESSAGES, PACED_MESSAGES, PACED_RATE))
            wait_for_replies(fake_url, PACED_MESSAGES)
            acks, started, rate = asyncio.run(load(url))
            wait_for_replies(fake_url, PACED_MESSAGES + MESSAGES)
            rss = rss_mb(proc.pid)
        arrivals = json.loads(arrivals_file.read_text())
    replies = {chat: at for chat, at in arrivals}
    end_to_end = [(replies[chat] - t0) * 1000 for chat, t0 in started.items() if chat in replies]
    paced_e2e = [(replies[chat] - t0) * 1000 for chat, t0 in steady.items() if chat in replies]
    return {
        "paced_rate_per_s": PACED_RATE,
        "paced_end_to_end_p50_ms": round(pct(paced_e2e, 50), 1),
        "paced_end_to_end_p99_ms": round(pct(paced_e2e, 99), 1),
        "accepted_per_s": round(rate),
        "ack_p50_ms": round(pct(acks, 50), 2),
        "ack_p99_ms": round(pct(acks, 99), 2),
        "replies_received": len(replies),
        "duplicate_replies": len(arrivals) - len(replies),
        "flood_end_to_end_note": "50 senders as fast as acks allow: a backlog forms",
        "flood_end_to_end_p50_ms": round(pct(end_to_end, 50), 1),
        "flood_end_to_end_p99_ms": round(pct(end_to_end, 99), 1),
        "server_rss_mb": round(rss),
    }


def env(tmp: str, telegram_url: str) -> dict[str, str]:
    return {
        "CHATCOMMERCE_DATA_DIR": tmp,
        "CHATCOMMERCE_WRITE_KEY": "bench",
        "CHATCOMMERCE_TELEGRAM_BOT_TOKEN": TOKEN,
        "CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CHATCOMMERCE_TELEGRAM_API_URL": telegram_url,
        "CHATCOMMERCE_CONVERSATION_BURST_SECONDS": "0",
    }


def wait_for_replies(url: str, expected: int) -> None:
    deadline = time.monotonic() + 300
    while replies_so_far(url) < expected and time.monotonic() < deadline:
        time.sleep(0.2)


def replies_so_far(url: str) -> int:
    """The fake counts nothing for us across processes; ask it via a harmless call."""
    return int(httpx.get(url + "/count").json()["sent"])


def run_bare() -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "bench._bare_endpoint:app"),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/webhooks/telegram")
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
    holding = run_app("holding")  # a trivial handler: the pipeline's own cost
    agent = run_app("agent")  # the offline agent answering each message with a search
    result = {
        "messages": MESSAGES,
        "senders": SENDERS,
        "bare_fastapi": bare,
        "webhook_sqlite_trivial_handler": holding,
        "webhook_sqlite_offline_agent": agent,
        "rate_ratio_to_bare": round(holding["accepted_per_s"] / bare["accepted_per_s"], 3),
        "ack_p99_ratio_to_bare": round(holding["ack_p99_ms"] / bare["ack_p99_ms"], 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
