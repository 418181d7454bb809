"""Conversations answered through a worker that is stopped mid-turn: lost and doubled replies.

Run: `.venv/bin/python -m bench.turn_crash [--quick]`. Real processes, as deployed: the API
(`chatcommerce serve`, webhooks only), a conversation worker (`chatcommerce worker`), a slow
OpenAI-compatible model (bench/_stub_openai.py: every call takes a second, two calls a turn)
and a slow fake Telegram that records each reply the moment its request arrives. 100 shoppers
each send a message; once some replies are out, the worker is stopped (SIGKILL, or SIGTERM as a
deploy does) while turns are in flight, and a new worker is started. Each shopper must get
exactly one answer: lost = shoppers never answered, doubled = shoppers answered twice.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.agent_turns import SECRET, TOKEN, telegram_update
from bench.server import ROOT, free_port, running_app

CONVERSATIONS = 100
MODEL_SECONDS = 1.0
TELEGRAM_SECONDS = 0.1
STOP_AFTER = 30  # replies out before the worker is stopped
LEASE_SECONDS = 5


def serve_telegram(port: int, out: Path, seconds: float) -> None:
    """The fake Bot API: each sendMessage is a line ``chat_id``, written the moment the request
    arrives (so a reply on the wire when the worker dies counts as received), answered after
    ``seconds``."""
    import asyncio
    import itertools

    from tests.fake_providers.telegram_api import BOT_USER

    log = out.open("a")
    ids = itertools.count(1)

    async def bot_api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if method == "getMe":
            return JSONResponse({"ok": True, "result": BOT_USER})
        form = await request.form()
        chat_id = str(form.get("chat_id", "0"))
        if method == "sendMessage":
            log.write(f"{chat_id}\n")
            log.flush()
        await asyncio.sleep(seconds)
        message = {
            "message_id": next(ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": BOT_USER,
            "text": str(form.get("text", "")),
        }
        return JSONResponse({"ok": True, "result": message})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/bot{token}/{method}", bot_api, methods=["GET", "POST"]),
            Route("/health", health),
        ]
    )
    uvicorn.run(app, port=port, log_level="warning", access_log=False, lifespan="off")


def replies(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def scenario(signum: int, conversations: int, stop_after: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        out = data / "replies.txt"
        model_port, telegram_port = free_port(), free_port()
        helpers = [
            subprocess.Popen(
                [sys.executable, "-m", "bench._stub_openai", str(model_port), str(MODEL_SECONDS)],
                cwd=ROOT,
            ),
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.turn_crash", "--telegram"),
                    *(str(telegram_port), str(out), str(TELEGRAM_SECONDS)),
                ],
                cwd=ROOT,
            ),
        ]
        wait_for(f"http://127.0.0.1:{model_port}/health")
        wait_for(f"http://127.0.0.1:{telegram_port}/health")
        env = {
            "CHATCOMMERCE_DATA_DIR": str(data),
            "CHATCOMMERCE_WRITE_KEY": "bench",
            "CHATCOMMERCE_RUN_WORKERS": "false",
            "CHATCOMMERCE_TELEGRAM_BOT_TOKEN": TOKEN,
            "CHATCOMMERCE_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "CHATCOMMERCE_TELEGRAM_API_URL": f"http://127.0.0.1:{telegram_port}",
            "CHATCOMMERCE_OPENAI_API_KEY": "sk-bench",
            "CHATCOMMERCE_OPENAI_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
            "CHATCOMMERCE_CONVERSATION_LEASE_SECONDS": str(LEASE_SECONDS),
            "CHATCOMMERCE_CONVERSATION_BURST_SECONDS": "0",
            "CHATCOMMERCE_SCHEDULER_POLL_SECONDS": "0.2",
            "CHATCOMMERCE_LOG_LEVEL": "WARNING",
        }
        full_env = {**os.environ, **env}
        worker_command = [sys.executable, "-m", "app.cli", "worker"]
        try:
            with running_app(env) as (url, _):
                worker = subprocess.Popen(worker_command, env=full_env, cwd=ROOT)
                start = time.perf_counter()
                with httpx.Client(base_url=url, timeout=30) as client:
                    for chat in range(1, conversations + 1):
                        update = telegram_update(chat, 10_000 + chat, "waterproof boots?")
                        client.post(
                            "/webhooks/telegram",
                            json=update,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                        ).raise_for_status()
                deadline = time.monotonic() + 300
                while sum(replies(out).values()) < stop_after and time.monotonic() < deadline:
                    time.sleep(0.02)
                worker.send_signal(signum)
                worker.wait(timeout=120)
                at_stop = sum(replies(out).values())
                restarted = subprocess.Popen(worker_command, env=full_env, cwd=ROOT)
                deadline = time.monotonic() + 300
                while len(replies(out)) < conversations and time.monotonic() < deadline:
                    time.sleep(0.2)
                answered_in = time.perf_counter() - start
                time.sleep(LEASE_SECONDS * 2 + 5)  # time for a stray second answer to show
                restarted.send_signal(signal.SIGTERM)
                restarted.wait(timeout=120)
        finally:
            for helper in helpers:
                helper.terminate()
                helper.wait(timeout=30)
        counts = replies(out)
    return {
        "conversations": conversations,
        "model_seconds_per_call": MODEL_SECONDS,
        "telegram_seconds_per_send": TELEGRAM_SECONDS,
        "stopped_with": signal.Signals(signum).name,
        "replies_before_stop": at_stop,
        "lost": conversations - len(counts),
        "doubled": sum(1 for n in counts.values() if n > 1),
        "seconds_until_all_answered": round(answered_in, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 conversations")
    parser.add_argument("--telegram", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.telegram:
        port, out, seconds = args.telegram
        serve_telegram(int(port), Path(out), float(seconds))
        return
    n = 40 if args.quick else CONVERSATIONS
    results = {
        "kill9_mid_turn": scenario(signal.SIGKILL, n, STOP_AFTER * n // CONVERSATIONS),
        "sigterm_mid_turn": scenario(signal.SIGTERM, n, STOP_AFTER * n // CONVERSATIONS),
    }
    print(json.dumps(results, indent=2))
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "turn_crash.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
