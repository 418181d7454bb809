"""Scheduled sends through a worker that is killed mid-run, then restarted: lost and doubled sends.

Run: `.venv/bin/python -m bench.scheduler_crash [--quick]`. A worker process sends through a
"provider" that appends each send id to a file the moment the request reaches it (before it
answers: the worst case, where everything on the wire at the kill has been taken), and the
parent stops the worker partway through, then starts a fresh one on the same SQLite database.

Scenarios:
- ``fast_kill9``: 100,000 sends, an instant provider, SIGKILL.
- ``slow_provider_kill9``: 10,000 sends, a provider that takes 100 ms to answer, SIGKILL mid-wave.
- ``slow_provider_sigterm``: the same, stopped with SIGTERM (what a deploy sends): the worker
  finishes what it holds.

Reports per scenario: sends lost (never dispatched: must be 0), sends dispatched twice (only
what was on the wire at the kill can be: the provider had it, the worker had not recorded it),
the most sends a worker had on the wire at once, and peak worker memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import func, select, update

from app.settings import Settings
from bench.scheduler_dispatch import CUSTOMERS, SENDS, seed
from policy.guardrails import load_guardrails
from profile_store.database import create_engine, session_factory, transaction
from profile_store.migrate import upgrade
from scheduler.dispatch import DispatchResult, OutboundSend
from scheduler.embedded import EmbeddedScheduler

CONCURRENCY = 32
LEASE = timedelta(seconds=10)  # short, so the restarted worker need not wait long
SCENARIOS = {
    # name: (sends, provider seconds, stop after this many dispatched, signal)
    "fast_kill9": (100_000, 0.0, 30_000, signal.SIGKILL),
    "slow_provider_kill9": (10_000, 0.1, 3_000, signal.SIGKILL),
    "slow_provider_sigterm": (10_000, 0.1, 3_000, signal.SIGTERM),
}
QUICK = {
    "fast_kill9": (20_000, 0.0, 6_000, signal.SIGKILL),
    "slow_provider_kill9": (2_000, 0.1, 600, signal.SIGKILL),
    "slow_provider_sigterm": (2_000, 0.1, 600, signal.SIGTERM),
}


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so quiet hours never apply."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


class FileDispatcher:
    """The provider: a send is taken (one line, flushed) as its request arrives; the answer
    comes ``seconds`` later."""

    def __init__(self, out: IO[str], seconds: float) -> None:
        self.out = out
        self.seconds = seconds
        self.on_wire = 0
        self.most_on_wire = 0

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        self.out.write(send.send_id + "\n")
        self.out.flush()
        self.on_wire += 1
        self.most_on_wire = max(self.most_on_wire, self.on_wire)
        try:
            if self.seconds:
                await asyncio.sleep(self.seconds)
        finally:
            self.on_wire -= 1
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def work(url: str, out_path: Path, seconds: float) -> None:
    engine = create_engine(url)
    rules = load_guardrails()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with out_path.open("a") as out:
        dispatcher = FileDispatcher(out, seconds)
        scheduler = EmbeddedScheduler(
            session_factory(engine),
            dispatcher,
            lambda: rules,
            batch=1000,
            lease=LEASE,
            concurrency=CONCURRENCY,
        )
        scheduler.start()  # the deployed loop, stopped gracefully on SIGTERM
        await stop.wait()
        await scheduler.stop()
        (out_path.parent / "most_on_wire").write_text(str(dispatcher.most_on_wire))
    await engine.dispose()


async def prepare(url: str, sends: int) -> None:
    await asyncio.to_thread(upgrade, url)
    await seed(url, sends)
    engine = create_engine(url)
    async with transaction(session_factory(engine)) as session:
        conn = await session.connection()
        await conn.execute(update(CUSTOMERS).values(timezone=midday_zone(datetime.now(UTC))))
        await conn.execute(update(SENDS).values(due_at=datetime.now(UTC)))
    await engine.dispose()


async def sent_count(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        conn = await session.connection()
        count = await conn.scalar(
            select(func.count()).select_from(SENDS).where(SENDS.c.status == "sent")
        )
    await engine.dispose()
    return int(count or 0)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def scenario(sends: int, seconds: float, stop_after: int, signum: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = Settings(_env_file=None, data_dir=Path(tmp)).sqlalchemy_url
        asyncio.run(prepare(url, sends))
        out = Path(tmp) / "dispatched.txt"
        command = [sys.executable, "-m", "bench.scheduler_crash", "--worker", url, str(out)]
        command.append(str(seconds))
        start = time.perf_counter()
        first = subprocess.Popen(command)
        peak = 0.0
        while len(lines(out)) < stop_after and first.poll() is None:
            peak = max(peak, peak_rss_mb(first.pid))
            time.sleep(0.02)
        os.kill(first.pid, signum)
        first.wait()
        at_stop = len(lines(out))
        recorded_at_stop = asyncio.run(sent_count(url))
        # A killed worker's claimed sends come back once their lease ends; the restarted
        # worker waits that out on its own, as a real one would.
        second = subprocess.Popen(command)
        deadline = time.monotonic() + 600
        while asyncio.run(sent_count(url)) < sends and time.monotonic() < deadline:
            peak = max(peak, peak_rss_mb(second.pid))
            time.sleep(0.5)
        second.send_signal(signal.SIGTERM)
        second.wait()
        elapsed = time.perf_counter() - start
        dispatched = lines(out)
        final_sent = asyncio.run(sent_count(url))
        most = Path(tmp) / "most_on_wire"
        on_wire = int(most.read_text()) if most.exists() else CONCURRENCY
    unique = set(dispatched)
    return {
        "sends": sends,
        "provider_seconds": seconds,
        "stopped_with": signal.Signals(signum).name,
        "dispatched_before_stop": at_stop,
        "recorded_sent_at_stop": recorded_at_stop,
        "recorded_sent_at_end": final_sent,
        "lost": sends - len(unique),
        "dispatched_twice": len(dispatched) - len(unique),
        "most_on_wire": on_wire,
        "seconds_including_lease_wait": round(elapsed, 1),
        "worker_peak_rss_mb": round(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # the worker process
        url, out, seconds = args.worker
        asyncio.run(work(url, Path(out), float(seconds)))
        return
    results = {name: scenario(*spec) for name, spec in (QUICK if args.quick else SCENARIOS).items()}
    print(json.dumps(results, indent=2))
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "scheduler_crash.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
