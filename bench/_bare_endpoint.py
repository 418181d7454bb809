"""A FastAPI endpoint doing nothing, served like the app: the floor the webhook is compared to."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/webhooks/telegram")
async def noop() -> dict[str, str]:
    return {}
