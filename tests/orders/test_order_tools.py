"""The order tools: policy edges, a yes in a new message before any write, own orders only,
identity first on chat-id channels, and the confirmation when the shop's event comes back."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.container import Container
from profile_store import clock
from profile_store.models import Channel, Message, OrderRequest
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
from tools.agent_tools.orders import VerifyRequest, get_order_status, verify_identity

ADA = {"phone": "+15551230001"}
BOB = {"phone": "+15551230002"}
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]


async def requests(app: FastAPI) -> list[object]:
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        return list((await conn.execute(select(REQUESTS).order_by(REQUESTS.c.created_at))).all())


async def test_cancel_only_before_shipping(client: httpx.AsyncClient, app: FastAPI) -> None:
    await post(client, placed(ADA, "o-open", days_ago(2)), placed(ADA, "o-gone", days_ago(2)))
    await post(client, event("order_shipped", ADA, days_ago(1), order_id="o-gone"))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app)
    ok = await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-open"), clock.now()
    )
    assert ok.status == "needs_confirmation" and "cancel order o-open" in ok.note
    late = await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-gone"), clock.now()
    )
    assert late.status == "refused" and "shipped" in late.note


async def test_return_window_edges(client: httpx.AsyncClient, app: FastAPI) -> None:
    await post(client, placed(ADA, "o-in", days_ago(40)), placed(ADA, "o-out", days_ago(40)))
    await post(
        client,
        event("order_delivered", ADA, days_ago(29.9), order_id="o-in"),
        event("order_delivered", ADA, days_ago(30.1), order_id="o-out"),
    )
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app, return_window_days=30)
    inside = await request_order_change(
        services, ada, ChangeRequest(action="return", order_id="o-in", items=["boots"]), clock.now()
    )
    assert inside.status == "needs_confirmation", inside.note
    outside = await request_order_change(
        services, ada, ChangeRequest(action="return", order_id="o-out"), clock.now()
    )
    assert outside.status == "refused" and "30 days" in outside.note
    not_delivered = await post(client, placed(ADA, "o-new", days_ago(1)))
    assert not_delivered.status_code == 200
    early = await request_order_change(
        services, ada, ChangeRequest(action="return", order_id="o-new"), clock.now()
    )
    assert early.status == "refused" and "delivered" in early.note


async def test_exchange_is_for_the_same_product_in_stock(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-x", days_ago(10)))
    await post(client, event("order_delivered", ADA, days_ago(5), order_id="o-x"))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app)
    swap = await request_order_change(
        services, ada, ChangeRequest(action="exchange", order_id="o-x", size="42"), clock.now()
    )
    assert swap.status == "needs_confirmation" and "boot-1-41 for boot-1-42" in swap.note
    other = await request_order_change(
        services,
        ada,
        ChangeRequest(action="exchange", order_id="o-x", new_items=["tee-1-m"]),
        clock.now(),
    )
    assert other.status == "refused" and "same product" in other.note
    sold_out = await request_order_change(
        services, ada, ChangeRequest(action="exchange", order_id="o-x", size="43"), clock.now()
    )
    assert sold_out.status == "refused" and "out of stock" in sold_out.note


async def test_address_change_before_shipping_becomes_an_order_change(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-a", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app)
    change = ChangeRequest(action="change_address", address={"address1": "9 Oak Ave"})
    answer = await request_order_change(services, ada, change, clock.now())
    assert answer.status == "needs_confirmation" and "9 Oak Ave" in answer.note


async def test_no_write_without_a_yes_in_a_new_message(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-c", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app, shop=True)
    await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-c"), clock.now()
    )
    same_turn = await confirm_order_change(services, ada, affirmed=True, now=clock.now())
    assert same_turn.status == "refused"
    assert [r.status for r in await requests(app)] == ["proposed"]  # type: ignore[attr-defined]
    no = await confirm_order_change(
        services, in_turn(ada, "turn-2"), affirmed=False, now=clock.now()
    )
    assert no.status == "declined"
    await request_order_change(
        services,
        in_turn(ada, "turn-3"),
        ChangeRequest(action="cancel", order_id="o-c"),
        clock.now(),
    )
    yes = await confirm_order_change(
        services, in_turn(ada, "turn-4"), affirmed=True, now=clock.now()
    )
    assert yes.status == "requested"
    assert [r.status for r in await requests(app)] == ["declined", "queued"]  # type: ignore[attr-defined]


async def test_another_customers_order_looks_missing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(BOB, "o-bob", days_ago(1)))
    await post(client, placed(ADA, "o-ada", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app)
    theirs = await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-bob"), clock.now()
    )
    nothing = await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-none"), clock.now()
    )
    assert theirs.status == nothing.status == "refused"
    assert theirs.note.replace("o-bob", "X") == nothing.note.replace("o-none", "X")
    status = await get_order_status(services, ada, "o-bob")
    assert status.orders == [] and status.note == "no order 'o-bob' on this shopper's account"


async def test_approval_and_no_webhook_go_to_a_person(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-p", days_ago(1)))
    ada = await open_conversation(app, ADA, Channel.SMS, "+15551230001")
    services = services_of(app, shop=True, approval_required=["cancel"])
    await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-p"), clock.now()
    )
    held = await confirm_order_change(
        services, in_turn(ada, "turn-2"), affirmed=True, now=clock.now()
    )
    assert held.status == "with_person"
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        notes = (
            (await conn.execute(select(MESSAGES.c.text).where(MESSAGES.c.direction == "note")))
            .scalars()
            .all()
        )
    assert any("cancel order o-p" in str(n) for n in notes)
    # A person did it in the shop: its event completes the request and tells the shopper.
    await post(client, event("order_cancelled", ADA, clock.now(), order_id="o-p"))
    assert [r.status for r in await requests(app)] == ["completed"]  # type: ignore[attr-defined]
    async with container.readers() as session:
        conn = await session.connection()
        out = (
            await conn.execute(
                select(MESSAGES.c.text, MESSAGES.c.status).where(
                    MESSAGES.c.conversation_id == ada.conversation_id,
                    MESSAGES.c.direction == "out",
                )
            )
        ).all()
    assert [(t, s) for t, s in out] == [
        ("Done: your order o-p is cancelled. The refund goes back to how you paid.", "queued")
    ]


async def test_a_telegram_only_shopper_verifies_first(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    tg = {"telegram_id": "777"}
    await post(
        client,
        event("identify", tg, days_ago(3), first_name="Ada", last_name="Lovelace"),
        placed(tg, "o-tg", days_ago(2)),
    )
    ada = await open_conversation(app, tg, Channel.TELEGRAM, "777")
    services = services_of(app)
    first = await get_order_status(services, ada)
    assert first.needs_verification and first.orders == []
    change = await request_order_change(
        services, ada, ChangeRequest(action="cancel", order_id="o-tg"), clock.now()
    )
    assert change.status == "needs_verification"
    wrong = await verify_identity(
        services, ada, VerifyRequest(email="eve@example.com"), clock.now()
    )
    assert not wrong.verified
    by_zip = VerifyRequest(first_name="ada", last_name="LOVELACE", zip="12345")
    assert (await verify_identity(services, ada, by_zip, clock.now())).verified
    after = await get_order_status(services, ada)
    assert [o.order_id for o in after.orders] == ["o-tg"]
