"""The fake Bot API as its own process, so the load generator cannot slow the replies down.

Run by bench/webhooks.py: `python -m bench._fake_telegram PORT OUT`; on SIGINT it writes
each reply's chat id and arrival time (CLOCK_MONOTONIC, comparable across processes) to OUT.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from tests.fake_providers.telegram_api import FakeTelegramApi


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    api = FakeTelegramApi()

    async def count(_: Request) -> JSONResponse:
        return JSONResponse({"sent": len(api.sent)})

    app = Starlette(routes=[Route("/count", count), Mount("/", app=api.app)])
    try:
        uvicorn.run(app, port=port, log_level="warning", access_log=False, lifespan="off")
    finally:
        arrivals = [[int(c.params["chat_id"]), c.received_at] for c in api.sent]
        out.write_text(json.dumps(arrivals))


if __name__ == "__main__":
    main()
