"""Web chat benchmark: message-to-reply latency through web chat with the offline planner
(p50/p99), and the event stream's delivery delay.

Why: web chat is what a newcomer tries first (`make run`, then the page at /). What they wait for
is the time from pressing Send to the answer appearing in the page: the POST (stored before the
202), the conversation worker's turn with the offline planner (a catalog search for most texts),
the reply written to the visitor's mailbox, and the event stream carrying it to the page. The
delivery delay is the last step alone: from the reply's row being written (its ``created_at``,
the app's clock) to its event arriving here (same machine, same clock). In the process that
wrote it the stream is woken at once; in another API process it is found by the table poll
(``CHATCOMMERCE_WEBCHAT_POLL_SECONDS``, 1 s by default), which is what several API processes
behind a load balancer see.

Each simulated visitor opens a session and its stream, then sends a message, waits for the
bot's answer on the stream and sends the next at once (closed loop): at 8 visitors the latency
includes queueing for the two cores. Burst window 0 (the default 1 s debounce would add a
second to every answer; it is a product choice, not a cost).

Runs: SQLite, one `chatcommerce serve` process (embedded workers), 1 and 8 visitors; then
PostgreSQL with two API processes, A running the workers and B serving HTTP only
(`CHATCOMMERCE_RUN_WORKERS=false`): streams on A (same process as the writer) and on B (another
process).

Run: `.venv/bin/python -m bench.webchat`; writes bench/results/webchat.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.agent_turns import SHOPPER_TEXTS, cpu_seconds, machine
from bench.server import ROOT, rss_mb, running_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP_TURNS = 12
LEVELS = {1: 60, 8: 160}  # visitors: turns in all
CROSS_VISITORS = 4
CROSS_TURNS = 60  # per process the streams are on
REPLY_TIMEOUT_S = 60.0


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50), 1),
        "p99_ms": round(pct(values, 99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


@dataclass
class Arrival:
    monotonic: float
    wall: float
    entry: dict[str, Any]


@dataclass
class Visitor:
    """One page: a session, its open event stream, and the entries as they arrive."""

    post_http: httpx.AsyncClient
    session_id: str
    token: str
    arrivals: asyncio.Queue[Arrival] = field(default_factory=asyncio.Queue)
    sent: int = 0

    @property
    def path(self) -> str:
        return f"/webchat/v1/sessions/{self.session_id}"

    async def read_stream(self, stream_http: httpx.AsyncClient) -> None:
        params = {"token": self.token}
        async with stream_http.stream("GET", self.path + "/stream", params=params) as response:
            response.raise_for_status()
            data: str | None = None
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data = line[len("data: ") :]
                elif line.startswith("event: ") and line != "event: message":
                    data = None  # typing events are not entries
                elif line == "" and data is not None:
                    entry = json.loads(data)
                    if "seq" in entry:
                        self.arrivals.put_nowait(Arrival(time.monotonic(), time.time(), entry))
                    data = None

    async def turn(self, text: str) -> tuple[float, float, float]:
        """(message to reply, POST to 202, the reply's delivery delay), in ms."""
        self.sent += 1
        started = time.monotonic()
        response = await self.post_http.post(
            self.path + "/messages",
            json={"client_message_id": f"m{self.sent}", "text": text},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        acked = time.monotonic()
        response.raise_for_status()
        seq = response.json()["seq"]
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                arrival = await self.arrivals.get()
                entry = arrival.entry
                if entry["seq"] > seq and entry["from"] == "bot":
                    break
        written = datetime.fromisoformat(entry["created_at"]).timestamp()
        return (
            (arrival.monotonic - started) * 1000,
            (acked - started) * 1000,
            (arrival.wall - written) * 1000,
        )

    def drain(self) -> None:
        """Forget what arrived after the last answer (the rest of a reply: cards)."""
        while not self.arrivals.empty():
            self.arrivals.get_nowait()


@contextlib.asynccontextmanager
async def visitors(
    count: int, post_url: str, stream_url: str | None = None
) -> AsyncIterator[list[Visitor]]:
    """``count`` visitors posting to ``post_url`` and streaming from ``stream_url``."""
    limits = httpx.Limits(max_connections=count * 2 + 4)
    timeout = httpx.Timeout(30, read=None)
    async with (
        httpx.AsyncClient(base_url=post_url, limits=limits, timeout=timeout) as post_http,
        httpx.AsyncClient(base_url=stream_url or post_url, limits=limits, timeout=timeout) as sse,
    ):
        opened = []
        for _ in range(count):
            created = (await post_http.post("/webchat/v1/sessions", json={})).json()
            opened.append(Visitor(post_http, created["session_id"], created["token"]))
        readers = [asyncio.create_task(v.read_stream(sse)) for v in opened]
        try:
            for visitor in opened:  # the greeting shows the stream is open
                async with asyncio.timeout(30):
                    await visitor.arrivals.get()
            yield opened
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


async def closed_loop(
    group: list[Visitor], turns: int, texts: Iterator[str]
) -> tuple[list[float], list[float], list[float], float]:
    latencies: list[float] = []
    acks: list[float] = []
    delays: list[float] = []
    remaining = itertools.count()

    async def visit(visitor: Visitor) -> None:
        while next(remaining) < turns:
            latency, ack, delay = await visitor.turn(next(texts))
            latencies.append(latency)
            acks.append(ack)
            delays.append(delay)
            await asyncio.sleep(0.05)  # the rest of the reply (cards) arrives meanwhile
            visitor.drain()

    started = time.monotonic()
    await asyncio.gather(*(visit(v) for v in group))
    return latencies, acks, delays, time.monotonic() - started


def texts() -> Iterator[str]:
    return itertools.cycle(SHOPPER_TEXTS)


async def sqlite_levels(url: str, pid: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with visitors(2, url) as warm:
        await closed_loop(warm, WARMUP_TURNS, texts())  # loads the model and the catalog
    for count, turns in LEVELS.items():
        async with visitors(count, url) as group:
            cpu_before = cpu_seconds(pid)
            latencies, acks, delays, elapsed = await closed_loop(group, turns, texts())
            cpu = cpu_seconds(pid) - cpu_before
        results[f"visitors_{count}"] = {
            "message_to_reply": summary(latencies),
            "post_to_202": summary(acks),
            "stream_delivery_delay": summary(delays),
            "turns_per_s": round(turns / elapsed, 1),
            "app_cpu_ms_per_turn": round(1000 * cpu / turns, 1),
        }
    results["app_rss_mb"] = round(rss_mb(pid))
    return results


async def cross_process(url_a: str, url_b: str) -> dict[str, Any]:
    async with visitors(2, url_a) as warm:
        await closed_loop(warm, WARMUP_TURNS, texts())
    results: dict[str, Any] = {}
    streams = {"stream_on_writer_process": url_a, "stream_on_other_process": url_b}
    for name, stream_url in streams.items():
        async with visitors(CROSS_VISITORS, url_b, stream_url) as group:
            latencies, _, delays, _ = await closed_loop(group, CROSS_TURNS, texts())
        results[name] = {
            "message_to_reply": summary(latencies),
            "stream_delivery_delay": summary(delays),
        }
    return results


def prepare(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The app's environment, with the schema, demo shoppers and demo catalog made once."""
    env = {
        "CHATCOMMERCE_DATA_DIR": str(data_dir),
        "CHATCOMMERCE_WRITE_KEY": "bench",
        "CHATCOMMERCE_CONVERSATION_BURST_SECONDS": "0",
        "CHATCOMMERCE_WEBCHAT_RATE_LIMIT_MESSAGES": "10000",
    }
    if database_url:
        env["CHATCOMMERCE_DATABASE_URL"] = database_url
    for verb in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run(
            [sys.executable, "-m", "app.cli", *verb],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return env


def run_sqlite() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = prepare(Path(tmp))
        with running_app(env) as (url, proc):
            return asyncio.run(sqlite_levels(url, proc.pid))


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"cc_bench_webchat_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_postgres() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as database_url:
        data_a, data_b = Path(tmp) / "a", Path(tmp) / "b"
        env_a = prepare(data_a, database_url)
        shutil.copytree(data_a, data_b)  # B never runs a turn, so never opens the catalog
        env_b = env_a | {"CHATCOMMERCE_DATA_DIR": str(data_b), "CHATCOMMERCE_RUN_WORKERS": "false"}
        with running_app(env_a) as (url_a, _), running_app(env_b) as (url_b, _):
            return asyncio.run(cross_process(url_a, url_b))


def table(results: dict[str, Any]) -> str:
    lines = [f"{'run':<42} {'reply p50':>10} {'reply p99':>10} {'delay p50':>10} {'delay p99':>10}"]

    def row(name: str, block: dict[str, Any]) -> None:
        reply, delay = block["message_to_reply"], block["stream_delivery_delay"]
        lines.append(
            f"{name:<42} {reply['p50_ms']:>8.1f}ms {reply['p99_ms']:>8.1f}ms "
            f"{delay['p50_ms']:>8.1f}ms {delay['p99_ms']:>8.1f}ms"
        )

    for count in LEVELS:
        row(f"sqlite, {count} visitor(s)", results["sqlite"][f"visitors_{count}"])
    for name in ("stream_on_writer_process", "stream_on_other_process"):
        row(f"postgresql, {name.replace('_', ' ')}", results["postgresql"][name])
    return "\n".join(lines)


def main() -> None:
    os.environ.pop("CHATCOMMERCE_OPENAI_API_KEY", None)  # offline must mean offline
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "planner": "offline (no model), demo catalog, local MiniLM embeddings",
            "burst_seconds": 0,
            "closed_loop": "each visitor sends its next message as soon as the answer arrives",
            "webchat_poll_seconds": 1.0,
            "warmup_turns": WARMUP_TURNS,
        },
        "sqlite": run_sqlite(),
        "postgresql": run_postgres(),
    }
    results["runtime_s"] = round(time.monotonic() - started)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(table(results))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "webchat.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
