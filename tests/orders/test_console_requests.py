"""A request waiting for a person in the console: listed with what it is, done by a click that
confirms to the shopper, audited."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.admin_tokens import Role
from app.console.session import csrf_token
from app.container import Container
from profile_store import clock
from profile_store.models import Channel
from tests.admin_tokens import admin_headers
from tests.orders.helpers import days_ago, in_turn, open_conversation, placed, post, services_of
from tools.agent_tools.order_changes import (
    ChangeRequest,
    confirm_order_change,
    request_order_change,
)

ADA = {"phone": "+15551230001"}


async def test_a_person_completes_a_request_from_the_console(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-c", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app)  # no shop webhook: a person does it
    await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-c"), clock.now()
    )
    held = await confirm_order_change(
        services, in_turn(ada, "turn-2"), affirmed=True, now=clock.now()
    )
    assert held.status == "with_person"
    container: Container = app.state.container
    headers = await admin_headers(container, Role.MARKETER)
    token = headers["Authorization"].split()[1]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as console:
        assert (await console.post("/console/sign-in", data={"token": token})).status_code == 303
        page = await console.get("/console/order-requests")
        assert page.status_code == 200
        assert "cancel" in page.text and "o-c" in page.text and "with person" in page.text
        (request,) = (
            await client.get("/admin/v1/order-requests?status=with_person", headers=headers)
        ).json()
        forged = await console.post(
            f"/console/order-requests/{request['id']}", data={"action": "complete", "csrf": "x"}
        )
        assert forged.status_code == 403
        done = await console.post(
            f"/console/order-requests/{request['id']}",
            data={"action": "complete", "csrf": csrf_token(token)},
        )
        assert done.status_code == 303
        again = await console.post(
            f"/console/order-requests/{request['id']}",
            data={"action": "complete", "csrf": csrf_token(token)},
        )
        assert again.status_code == 409 and "completed" in again.text
        retry = await console.post(
            f"/console/order-requests/{request['id']}",
            data={"action": "retry", "csrf": csrf_token(token)},
        )
        assert retry.status_code == 409 and "no shop webhook" in retry.text
    (completed,) = (
        await client.get("/admin/v1/order-requests?status=completed", headers=headers)
    ).json()
    assert completed["id"] == request["id"]
    audit = (await client.get("/admin/v1/audit", headers=headers)).json()
    assert "order_request.complete" in [entry["action"] for entry in audit]
