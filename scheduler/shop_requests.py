"""Delivering confirmed order requests to the shop: a signed JSON POST, retried with backoff,
dead-lettered after the last try.

The body is signed with ``X-ChatCommerce-Signature`` (hex HMAC-SHA256 of the exact bytes sent,
keyed by ``CHATCOMMERCE_SHOP_WEBHOOK_SECRET``) and carries ``Idempotency-Key`` (the request id),
the same on every try, so a shop that saw a try whose answer was lost does the action once.
A 2xx marks the request ``sent`` (the shop's event completes it later); a 5xx, a timeout or a
connection error waits ``shop_webhook_retry_seconds[attempt]`` and tries again; a 4xx, or a
failure after the last wait, leaves it ``dead`` for a person (``GET /admin/v1/order-requests``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.database import run_transaction
from profile_store.models import OrderRequest

log = structlog.get_logger(__name__)
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
SIGNATURE_HEADER = "X-ChatCommerce-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
POLL_SECONDS = 2.0


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_body(row: Any) -> bytes:
    details = {k: v for k, v in row.details.items() if k != "summary"}
    document = {
        "request_id": row.id,
        "action": row.action,
        "order_id": row.order_id,
        "customer_id": row.customer_id,
        "details": details,
        "requested_at": row.updated_at.isoformat(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ShopWebhook:
    url: str
    secret: str
    timeout_seconds: float = 10.0
    retry_seconds: Sequence[float] = (5.0, 30.0, 120.0, 600.0)


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    webhook: ShopWebhook,
    now: datetime | None = None,
    limit: int = 20,
) -> int:
    """Try every queued request that is due; returns how many were tried."""
    now = now or clock.now()
    async with sessions() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(REQUESTS)
                .where(REQUESTS.c.status == "queued", REQUESTS.c.next_attempt_at <= now)
                .order_by(REQUESTS.c.next_attempt_at)
                .limit(limit)
            )
        ).all()
    for row in rows:
        body = request_body(row)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, webhook.secret),
            IDEMPOTENCY_HEADER: row.id,
        }
        error: str | None = None
        retry = True
        try:
            response = await client.post(
                webhook.url, content=body, headers=headers, timeout=webhook.timeout_seconds
            )
            if response.is_success:
                error = None
            else:
                error = f"shop answered {response.status_code}"
                retry = response.status_code >= 500 or response.status_code == 429
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:900]
        await _record(sessions, row, error, retry, webhook, clock.now())
    return len(rows)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    row: Any,
    error: str | None,
    retry: bool,
    webhook: ShopWebhook,
    now: datetime,
) -> None:
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "updated_at": now, "last_error": error}
    if error is None:
        values.update(status="sent", next_attempt_at=None)
    elif retry and attempts <= len(webhook.retry_seconds):
        wait = webhook.retry_seconds[attempts - 1]
        values.update(next_attempt_at=now + timedelta(seconds=wait))
    else:
        values.update(status="dead", next_attempt_at=None)
        log.warning("shop_request.dead", request_id=row.id, error=error)

    async def write(session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == row.id, REQUESTS.c.status == "queued")
            .values(values)
        )

    await run_transaction(sessions, write, name="shop_requests.record")


class ShopRequestWorker:
    """Polls for due requests in the app process (the embedded default)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], webhook: ShopWebhook) -> None:
        self.sessions = sessions
        self.webhook = webhook
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="shop-requests")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await deliver_due(self.sessions, self._client, self.webhook)
            except Exception:
                log.exception("shop_requests.failed")
            await asyncio.sleep(POLL_SECONDS)
