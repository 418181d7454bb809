"""Agent turn benchmark: a whole turn, from a shopper's Telegram webhook to the reply reaching the
(fake) Bot API, at 1 and 32 concurrent conversations; turns/s and the app's resident memory.

Why: the webhook benchmark measures the pipeline; this measures what a shopper waits for, with
the agent in its two real shapes: the offline planner (no OpenAI key) and a model that answers
in no time (bench/_stub_openai.py), so every turn is two model calls and a catalog search and all
the time measured is the app's own. The holding handler (one canned reply, no agent) runs too, as
the pipeline's share of a turn.

Closed loop (the default): each simulated shopper sends a message, waits for its reply, then
sends the next at once; after a few turns it leaves and a new shopper (a new chat) takes its
place, so histories stay conversation-sized. At 32 conversations that offers more than the app
can serve, so its latency is queueing: about conversations / turns per second.

Paced (``--paced``): 32 conversations as real shoppers hold them, each thinking for a random
time (exponential, mean ``--think-mean``, 4 s by default, seeded) before its first message and
after every reply, so the offered load (about 32 / 4 = 8 turns/s) is below what the app can
serve and latency is what a shopper waits at that load. The conversations share a budget of
turns; a shopper still thinking when it runs out stops there.

A turn ends at the first ``sendMessage`` for its chat (the answer's text; product cards follow
as photos). The fake Bot API runs in this process, not as bench/_fake_telegram.py, because
that one only reports arrivals when it exits.

Run: `.venv/bin/python -m bench.agent_turns` (closed loop; writes
bench/results/agent_turns.json), `... --paced` (writes bench/results/agent_turns_paced.json)
or `... --all` (both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.server import ROOT, free_port, rss_mb, running_app
from bench.webhooks import wait_until_up
from policy.guardrails import AgentConfig

MODES = ("holding", "offline", "stub")
TURNS = {1: 200, 32: 640}
PACED_MODES = ("holding", "offline", "stub")
PACED_SHOPPERS = 32
PACED_TURNS = 400
THINK_MEAN_S = 4.0
THINK_SEED = 1
WARMUP_TURNS = 20
TURNS_PER_CONVERSATION = 5
REPLY_TIMEOUT_S = 60.0
TARGET_P99_MS = 60.0
TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = "bench-secret"
SHOPPER_TEXTS = (
    "waterproof running shoes under 80",
    "black rain jacket in stock",
    "hi",
    "where is my order 10234",
    "do you have hiking boots in size 42?",
    "a backpack for my commute, something under 100",
    "noise cancelling headphones",
    "thanks!",
    "cast iron frying pan",
    "a light tent for two people",
    "sunscreen for sensitive skin",
    "what chargers do you have under 40 dollars",
)


class FakeBotApi:
    """The Bot API methods the app calls; tells a waiting shopper when its reply arrives."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[tuple[float, str]]] = {}
        self.calls: dict[str, int] = {}
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.handle, methods=["POST"])])

    def expect(self, chat: int) -> asyncio.Future[tuple[float, str]]:
        """Resolves with (arrival time, text) at the chat's next text message."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[chat] = future
        return future

    async def handle(self, request: Request) -> JSONResponse:
        arrived = time.monotonic()
        method = request.path_params["method"]
        params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.calls[method] = self.calls.get(method, 0) + 1
        chat = int(params["chat_id"])
        text = params.get("text", "")
        if method == "sendMessage" and (future := self.waiting.pop(chat, None)) is not None:
            future.set_result((arrived, text))
        message: dict[str, Any] = {
            "message_id": sum(self.calls.values()),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": 42, "is_bot": True, "first_name": "Shop"},
        }
        if method == "sendMessage":
            message["text"] = text
        else:
            message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
        return JSONResponse({"ok": True, "result": message})


@dataclass(frozen=True)
class Level:
    """One measured load: ``turns`` turns over ``shoppers`` concurrent conversations, closed
    loop, or paced when ``think_mean_s`` is set."""

    shoppers: int
    turns: int
    think_mean_s: float = 0.0
    seed: int = THINK_SEED

    @property
    def name(self) -> str:
        return f"paced_c{self.shoppers}" if self.think_mean_s else f"c{self.shoppers}"


class Load:
    """One closed-loop run: ``turns`` turns shared by ``shoppers`` concurrent conversations."""

    def __init__(self, url: str, bot: FakeBotApi, chats: Iterator[int], updates: Iterator[int]):
        self.url, self.bot, self.chats, self.updates = url, bot, chats, updates
        self.latencies_ms: list[float] = []
        self.failures: list[str] = []
        self.answers: Counter[str] = Counter()

    async def run(self, shoppers: int, turns: int) -> float:
        """Returns the elapsed seconds."""
        limits = httpx.Limits(max_connections=shoppers)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=30) as http:
            started = time.monotonic()
            await asyncio.gather(*self.shoppers(http, shoppers, turns))
            return time.monotonic() - started

    def shoppers(
        self, http: httpx.AsyncClient, shoppers: int, turns: int
    ) -> list[Coroutine[Any, Any, None]]:
        per_shopper = [turns // shoppers + (i < turns % shoppers) for i in range(shoppers)]
        return [self.shopper(http, n) for n in per_shopper]

    async def shopper(self, http: httpx.AsyncClient, turns: int) -> None:
        chat = next(self.chats)
        for turn in range(turns):
            if turn and turn % TURNS_PER_CONVERSATION == 0:
                chat = next(self.chats)  # this shopper leaves; a new one starts a conversation
            await self.turn(http, chat, SHOPPER_TEXTS[(chat + turn) % len(SHOPPER_TEXTS)])

    async def turn(self, http: httpx.AsyncClient, chat: int, text: str) -> None:
        reply = self.bot.expect(chat)
        sent = time.monotonic()
        response = await http.post(
            "/webhooks/telegram",
            json=telegram_update(next(self.updates), chat, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        response.raise_for_status()
        arrived, answer = await asyncio.wait_for(reply, REPLY_TIMEOUT_S)
        self.latencies_ms.append((arrived - sent) * 1000)
        self.answers[answer[:80]] += 1
        if answer in (AgentConfig().holding_reply, AgentConfig().failure_reply):
            self.failures.append(text)


class PacedLoad(Load):
    """Shoppers who think before each message: each waits an exponential time (mean
    ``think_mean_s``; its own seeded random stream) before its first message and after every
    reply. The shoppers take turns from one budget; when it is spent, thinking ones stop."""

    def __init__(
        self,
        url: str,
        bot: FakeBotApi,
        chats: Iterator[int],
        updates: Iterator[int],
        think_mean_s: float,
        seed: int,
    ):
        super().__init__(url, bot, chats, updates)
        self.think_mean_s, self.seed = think_mean_s, seed
        self.left = 0
        self.spent = asyncio.Event()
        self.thinks_s: list[float] = []

    def shoppers(
        self, http: httpx.AsyncClient, shoppers: int, turns: int
    ) -> list[Coroutine[Any, Any, None]]:
        self.left = turns
        return [
            self.paced_shopper(http, random.Random(self.seed * 1000 + i)) for i in range(shoppers)
        ]

    async def paced_shopper(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        chat, turn = next(self.chats), 0
        while await self.think(rng.expovariate(1 / self.think_mean_s)):
            if turn and turn % TURNS_PER_CONVERSATION == 0:
                chat = next(self.chats)  # this shopper leaves; a new one starts a conversation
            self.left -= 1
            if not self.left:
                self.spent.set()
            await self.turn(http, chat, SHOPPER_TEXTS[(chat + turn) % len(SHOPPER_TEXTS)])
            turn += 1

    async def think(self, seconds: float) -> bool:
        """Waits ``seconds`` (less if the budget is spent meanwhile); True if a turn is left."""
        if self.spent.is_set():
            return False
        self.thinks_s.append(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.spent.wait(), seconds)
        return not self.spent.is_set()


def telegram_update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
            "text": text,
        },
    }


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def level(load: Load, shoppers: int, turns: int, pids: dict[str, int]) -> dict[str, Any]:
    """One concurrency level, with where the CPU went (app, stub model, this load generator)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    elapsed = await load.run(shoppers, turns)
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    latencies = load.latencies_ms
    return {
        "turns": turns,
        "mean_ms": round(statistics.fmean(latencies), 1),
        "p50_ms": round(pct(latencies, 50), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "turns_per_s": round(turns / elapsed, 1),
        "app_rss_mb": round(rss_mb(pids["app"])),
        "app_cpu_busy_pct": round(100 * cpu["app"] / elapsed),
        "cpu_ms_per_turn": {name: round(1000 * s / turns, 1) for name, s in cpu.items()},
        "failed_turns": len(load.failures),
        "top_answers": load.answers.most_common(3),
    }


async def paced_level(load: PacedLoad, level_: Level, pids: dict[str, int]) -> dict[str, Any]:
    result = await level(load, level_.shoppers, level_.turns, pids)
    return {
        "shoppers": level_.shoppers,
        "think_mean_s": level_.think_mean_s,
        "think_seed": level_.seed,
        "think_drawn_mean_s": round(statistics.fmean(load.thinks_s), 2),
        "offered_turns_per_s_at_most": round(level_.shoppers / level_.think_mean_s, 1),
        **result,
    }


async def measure(
    url: str, listening: socket.socket, pids: dict[str, int], levels: Sequence[Level]
) -> dict[str, Any]:
    """Warm-up, then each level, against the app at ``url``; the fake Bot API serves on
    ``listening`` (bound before the app started, so no reply can find it closed)."""
    bot = FakeBotApi()
    config = uvicorn.Config(bot.app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    chats, updates = itertools.count(100_000), itertools.count(1)
    results: dict[str, Any] = {}
    try:
        await Load(url, bot, chats, updates).run(min(8, WARMUP_TURNS), WARMUP_TURNS)
        for each in levels:
            if each.think_mean_s:
                paced = PacedLoad(url, bot, chats, updates, each.think_mean_s, each.seed)
                results[each.name] = await paced_level(paced, each, pids)
            else:
                load = Load(url, bot, chats, updates)
                results[each.name] = await level(load, each.shoppers, each.turns, pids)
    finally:
        server.should_exit = True
        await serving
    results["bot_api_calls"] = bot.calls
    return results


def app_env(tmp: str, telegram_port: int, mode: str, stub_url: str) -> dict[str, str]:
    env = {
        "CHATCOMMERCE_DATA_DIR": tmp,
        "CHATCOMMERCE_WRITE_KEY": "bench",
        "CHATCOMMERCE_TELEGRAM_BOT_TOKEN": TOKEN,
        "CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CHATCOMMERCE_TELEGRAM_API_URL": f"http://127.0.0.1:{telegram_port}",
        "CHATCOMMERCE_CONVERSATION_BURST_SECONDS": "0",
        "CHATCOMMERCE_CONVERSATION_HANDLER": "holding" if mode == "holding" else "agent",
    }
    if mode == "stub":
        env |= {
            "CHATCOMMERCE_OPENAI_API_KEY": "sk-bench",
            "CHATCOMMERCE_OPENAI_BASE_URL": stub_url + "/v1",
            "CHATCOMMERCE_OPENAI_MODEL": "stub",
            "CHATCOMMERCE_OPENAI_STREAMING": "false",
        }
    return env


def prepare_data(data_dir: Path) -> None:
    """Schema, demo shoppers and the demo catalog (embedded SQLite and Chroma), made once."""
    env = {**os.environ, "CHATCOMMERCE_DATA_DIR": str(data_dir), "CHATCOMMERCE_WRITE_KEY": "bench"}
    for verb in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run(
            [sys.executable, "-m", "app.cli", *verb],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def run_mode(
    mode: str, template: Path, stub: tuple[str, int], levels: Sequence[Level]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(template, tmp, dirs_exist_ok=True)
        with socket.create_server(("127.0.0.1", 0)) as listening:
            env = app_env(tmp, listening.getsockname()[1], mode, stub[0])
            with running_app(env) as (url, proc):
                pids = {"app": proc.pid, "bench": os.getpid()}
                if mode == "stub":
                    pids["stub_model"] = stub[1]
                result = asyncio.run(measure(url, listening, pids, levels))
        log = (Path(tmp) / "server.log").read_text().splitlines()
    notable = [line for line in log if any(w in line for w in ('"level"', "Error", "Traceback"))]
    result["app_log_notable_lines"] = len(notable)
    result["app_log_first_notable"] = notable[:10]
    return result


@contextmanager
def stub_model() -> Iterator[tuple[str, int]]:
    """The stub model's URL and process id."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench._stub_openai", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health")
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def table(results: dict[str, Any]) -> str:
    columns = ("p50_ms", "p99_ms", "max_ms", "turns_per_s", "app_rss_mb", "failed_turns")
    rows = [f"{'mode':<8} {'conc':>4} " + " ".join(f"{c:>12}" for c in columns)]
    rows[0] += f" {'app_cpu_ms/turn':>16}"
    for mode in MODES:
        for shoppers in TURNS:
            r = results[mode][f"c{shoppers}"]
            cells = " ".join(f"{r[c]:>12}" for c in columns)
            rows.append(f"{mode:<8} {shoppers:>4} {cells} {r['cpu_ms_per_turn']['app']:>16}")
    return "\n".join(rows)


def paced_table(results: dict[str, Any], modes: Sequence[str], name: str) -> str:
    columns = (
        "p50_ms",
        "p99_ms",
        "max_ms",
        "turns_per_s",
        "app_rss_mb",
        "failed_turns",
        "app_cpu_busy_pct",
    )
    rows = [f"{'mode':<8} {'turns':>5} " + " ".join(f"{c:>16}" for c in columns)]
    for mode in modes:
        r = results[mode][name]
        cells = " ".join(f"{r[c]:>16}" for c in columns)
        rows.append(f"{mode:<8} {r['turns']:>5} {cells}")
    return "\n".join(rows)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


SETTINGS = {
    "app": "one uvicorn process (chatcommerce serve), embedded workers",
    "database": "sqlite (embedded)",
    "catalog": "embedded chroma, demo catalog, local MiniLM embeddings",
    "burst_seconds": 0,
    "conversation_concurrency": "default (32)",
    "warmup_turns": WARMUP_TURNS,
    "turns_per_conversation": TURNS_PER_CONVERSATION,
    "stub_model": "zero latency; each turn = search_products call + text answer",
}


def closed_loop(template: Path, stub: tuple[str, int]) -> None:
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            **SETTINGS,
            "turns": TURNS,
            "think_time_s": 0,
            "closed_loop_note": "zero think time: latency is about shoppers / turns_per_s",
        },
    }
    levels = [Level(shoppers, turns) for shoppers, turns in TURNS.items()]
    for mode in MODES:
        results[mode] = run_mode(mode, template, stub, levels)
    stub_p99 = results["stub"]["c32"]["p99_ms"]
    results["target"] = {"stub_c32_p99_ms_max": TARGET_P99_MS, "met": stub_p99 <= TARGET_P99_MS}
    print(table(results))
    print(f"stub model, 32 conversations: p99 {stub_p99} ms (target {TARGET_P99_MS} ms)")
    write("agent_turns.json", results)


def paced(template: Path, stub: tuple[str, int], each: Level, modes: Sequence[str]) -> None:
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            **SETTINGS,
            "shoppers": each.shoppers,
            "turns_per_mode": each.turns,
            "think_time": f"exponential, mean {each.think_mean_s} s, seed {each.seed}, "
            "before each shopper's first message and after every reply",
            "paced_note": "offered load at most shoppers / think mean, below the app's capacity",
        },
    }
    started = time.monotonic()
    for mode in modes:
        results[mode] = run_mode(mode, template, stub, [each])
    results["runtime_s"] = round(time.monotonic() - started)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(
        f"paced: {each.shoppers} conversations, think time exponential mean "
        f"{each.think_mean_s} s (seed {each.seed}), {each.turns} turns per mode, "
        f"offered at most {each.shoppers / each.think_mean_s:.1f} turns/s"
    )
    print(paced_table(results, modes, each.name))
    write("agent_turns_paced.json", results)


def write(name: str, results: dict[str, Any]) -> None:
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / name).write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--paced", action="store_true", help="only the paced run")
    variant.add_argument("--all", action="store_true", help="closed loop, then paced")
    parser.add_argument("--think-mean", type=float, default=THINK_MEAN_S, help="seconds")
    parser.add_argument("--paced-turns", type=int, default=PACED_TURNS, help="per mode")
    parser.add_argument("--seed", type=int, default=THINK_SEED)
    parser.add_argument("--paced-modes", nargs="+", choices=MODES, default=list(PACED_MODES))
    args = parser.parse_args()
    if args.think_mean <= 0:
        parser.error("--think-mean must be positive")
    os.environ.pop("CHATCOMMERCE_OPENAI_API_KEY", None)  # offline must mean offline
    with tempfile.TemporaryDirectory() as template, stub_model() as stub:
        prepare_data(Path(template))
        if not args.paced:
            closed_loop(Path(template), stub)
        if args.paced or args.all:
            each = Level(PACED_SHOPPERS, args.paced_turns, args.think_mean, args.seed)
            paced(Path(template), stub, each, args.paced_modes)


if __name__ == "__main__":
    main()
