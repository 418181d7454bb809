"""A confirmed request reaches a fake shop signed, is retried on 5xx with the same idempotency
key, and goes dead after the last try; the shop's event then confirms to the shopper."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from app.container import Container
from profile_store import clock
from profile_store.models import Channel, Message, OrderRequest
from scheduler.shop_requests import ShopWebhook, deliver_due
from tests.admin_tokens import admin_headers
from tests.fake_providers.server import serve
from tests.orders.helpers import (
    days_ago,
    event,
    in_turn,
    open_conversation,
    placed,
    post,
    services_of,
)
from tools.agent_tools.order_changes import (
    ChangeRequest,
    confirm_order_change,
    request_order_change,
)

ADA = {"phone": "+15551230001"}
SECRET = "shop-secret"
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]


def fake_shop(failures: int) -> tuple[FastAPI, list[dict[str, str]]]:
    """Answers 503 ``failures`` times, then 200; refuses a bad signature with 401."""
    shop = FastAPI()
    seen: list[dict[str, str]] = []

    @shop.post("/actions")
    async def actions(request: Request) -> Response:
        body = await request.body()
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        good = hmac.compare_digest(expected, request.headers.get("X-ChatCommerce-Signature", ""))
        seen.append({"key": request.headers.get("Idempotency-Key", ""), "ok": str(good)})
        if not good:
            return Response(status_code=401)
        if len(seen) <= failures:
            return Response(status_code=503)
        return Response(status_code=200)

    return shop, seen


async def confirmed_cancel(client: httpx.AsyncClient, app: FastAPI) -> str:
    await post(client, placed(ADA, "o-w", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app, shop=True)
    await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-w"), clock.now()
    )
    answer = await confirm_order_change(
        services, in_turn(ada, "turn-2"), affirmed=True, now=clock.now()
    )
    assert answer.status == "requested" and answer.request_id
    return answer.request_id


async def request_row(app: FastAPI, request_id: str) -> object:
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        return (await conn.execute(select(REQUESTS).where(REQUESTS.c.id == request_id))).one()


async def test_signed_retried_then_confirmed(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = await confirmed_cancel(client, app)
    container: Container = app.state.container
    shop, seen = fake_shop(failures=2)
    async with serve(shop) as url, httpx.AsyncClient() as http:
        webhook = ShopWebhook(f"{url}/actions", SECRET, 5.0, (0.0, 0.0, 0.0))
        for _ in range(4):
            await deliver_due(container.sessions, http, webhook)
    assert [s["ok"] for s in seen] == ["True"] * 3
    assert {s["key"] for s in seen} == {request_id}  # one key on every try
    row = await request_row(app, request_id)
    assert row.status == "sent" and row.attempts == 3  # type: ignore[attr-defined]
    admin = await admin_headers(container)
    anonymous = await client.get("/admin/v1/order-requests", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    listed = await client.get("/admin/v1/order-requests", params={"status": "sent"}, headers=admin)
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [request_id]
    await post(client, event("order_cancelled", ADA, clock.now(), order_id="o-w"))
    await post(client, event("order_cancelled", ADA, clock.now(), order_id="o-w"))  # again
    row = await request_row(app, request_id)
    assert row.status == "completed"  # type: ignore[attr-defined]
    async with container.readers() as session:
        conn = await session.connection()
        out = (
            (await conn.execute(select(MESSAGES.c.text).where(MESSAGES.c.direction == "out")))
            .scalars()
            .all()
        )
    assert len(out) == 1 and "o-w is cancelled" in str(out[0])


async def test_dead_letter_after_the_last_try(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = await confirmed_cancel(client, app)
    container: Container = app.state.container
    shop, seen = fake_shop(failures=10)
    async with serve(shop) as url, httpx.AsyncClient() as http:
        webhook = ShopWebhook(f"{url}/actions", SECRET, 5.0, (0.0,))
        for _ in range(3):
            await deliver_due(container.sessions, http, webhook)
    assert len(seen) == 2
    row = await request_row(app, request_id)
    assert row.status == "dead" and "503" in str(row.last_error)  # type: ignore[attr-defined]
    admin = await admin_headers(container)
    dead = await client.get("/admin/v1/order-requests", params={"status": "dead"}, headers=admin)
    assert [r["id"] for r in dead.json()] == [request_id]
    url = f"/admin/v1/order-requests/{request_id}/complete"
    done = await client.post(url, headers=admin)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert (await client.post(url, headers=admin)).status_code == 409
    missing = await client.post("/admin/v1/order-requests/nope/complete", headers=admin)
    assert missing.status_code == 404


async def test_a_bad_signature_is_not_retried(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = await confirmed_cancel(client, app)
    container: Container = app.state.container
    shop, seen = fake_shop(failures=0)
    async with serve(shop) as url, httpx.AsyncClient() as http:
        webhook = ShopWebhook(f"{url}/actions", "wrong-secret", 5.0, (0.0, 0.0))
        for _ in range(3):
            await deliver_due(container.sessions, http, webhook)
    assert [s["ok"] for s in seen] == ["False"]
    assert (await request_row(app, request_id)).status == "dead"  # type: ignore[attr-defined]
