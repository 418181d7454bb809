"""100,000 scheduled sends, the worker killed with SIGKILL mid-run, then restarted.

Run: `.venv/bin/python -m bench.scheduler_crash`. A worker process sends through a dispatcher
that appends each send id to a file as the "provider" accepts it, and the parent kills it
with SIGKILL partway through, then starts a fresh worker on the same SQLite database.
Reports: sends lost (never dispatched: must be 0), sends dispatched twice (the at-least-once
window: sends the killed worker handed over but had not yet recorded), peak worker memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
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

SENDS_TOTAL = 100_000
KILL_AFTER = 30_000  # dispatched sends seen in the file before SIGKILL


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so quiet hours never apply."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


class FileDispatcher:
    """The provider: every accepted send is one line, flushed before the send is recorded."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        self.out.write(send.send_id + "\n")
        self.out.flush()
        return DispatchResult(ok=True, provider_message_id=send.send_id)


async def work(url: str, out_path: Path) -> None:
    engine = create_engine(url)
    rules = load_guardrails()
    with out_path.open("a") as out:
        scheduler = EmbeddedScheduler(
            session_factory(engine), FileDispatcher(out), lambda: rules, batch=1000
        )
        while True:  # until the parent stops it, like a deployed worker
            if not await scheduler.send_due(datetime.now(UTC)):
                await asyncio.sleep(1)


async def prepare(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    await seed(url, SENDS_TOTAL)
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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    if len(sys.argv) == 3:  # the worker process
        asyncio.run(work(sys.argv[1], Path(sys.argv[2])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = Settings(_env_file=None, data_dir=Path(tmp)).sqlalchemy_url
        asyncio.run(prepare(url))
        out = Path(tmp) / "dispatched.txt"
        command = [sys.executable, "-m", "bench.scheduler_crash", url, str(out)]
        start = time.perf_counter()
        first = subprocess.Popen(command)
        peak = 0.0
        while len(lines(out)) < KILL_AFTER and first.poll() is None:
            peak = max(peak, peak_rss_mb(first.pid))
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = len(lines(out))
        recorded_at_kill = asyncio.run(sent_count(url))
        # The killed worker's claimed sends come back once their lease ends (2 minutes);
        # the restarted worker waits that out on its own, as a real one would.
        second = subprocess.Popen(command)
        while asyncio.run(sent_count(url)) < SENDS_TOTAL and second.poll() is None:
            peak = max(peak, peak_rss_mb(second.pid))
            time.sleep(1)
        second.terminate()
        second.wait()
        elapsed = time.perf_counter() - start
        dispatched = lines(out)
        final_sent = asyncio.run(sent_count(url))
    unique = set(dispatched)
    result = {
        "sends": SENDS_TOTAL,
        "dispatched_before_kill": at_kill,
        "recorded_sent_at_kill": recorded_at_kill,
        "recorded_sent_at_end": final_sent,
        "lost": SENDS_TOTAL - len(unique),
        "dispatched_twice": len(dispatched) - len(unique),
        "seconds_including_lease_wait": round(elapsed, 1),
        "worker_peak_rss_mb": round(peak),
    }
    print(json.dumps(result, indent=2))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "scheduler_crash.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
