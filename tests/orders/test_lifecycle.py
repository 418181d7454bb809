"""Each order lifecycle event folds into the order's state and history, validated like the rest."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.container import Container
from profile_store.models import Order, OrderHistory
from tests.orders.helpers import days_ago, event, placed, post

ADA = {"phone": "+15551230001"}
ORDERS = Order.__table__  # type: ignore[attr-defined]
HISTORY = OrderHistory.__table__  # type: ignore[attr-defined]


async def order_row(app: FastAPI, order_id: str) -> object:
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        return (await conn.execute(select(ORDERS).where(ORDERS.c.id == order_id))).first()


async def test_each_event_moves_the_order(client: httpx.AsyncClient, app: FastAPI) -> None:
    await post(client, placed(ADA, "o-1", days_ago(5)))
    row = await order_row(app, "o-1")
    assert row.status == "placed" and row.email == "ada@example.com"  # type: ignore[attr-defined]
    await post(
        client,
        event(
            "order_updated", ADA, days_ago(4.5), order_id="o-1", address={"address1": "2 Elm St"}
        ),
    )
    assert (await order_row(app, "o-1")).address == {"address1": "2 Elm St"}  # type: ignore[attr-defined]
    steps: list[tuple[str, str, dict[str, object]]] = [
        ("order_fulfilled", "shipped", {"carrier": "UPS", "tracking_number": "1Z9"}),
        ("order_shipped", "shipped", {"tracking_url": "https://t.example/1Z9"}),
        ("order_delivered", "delivered", {}),
        ("return_requested", "return_requested", {"items": ["boot-1-41"]}),
        ("return_received", "returned", {"items": ["boot-1-41"]}),
        ("order_refunded", "refunded", {"amount": 120, "currency": "USD"}),
    ]
    for index, (kind, state, props) in enumerate(steps):
        await post(client, event(kind, ADA, days_ago(4 - index * 0.5), order_id="o-1", **props))
        assert (await order_row(app, "o-1")).status == state, kind  # type: ignore[attr-defined]
    row = await order_row(app, "o-1")
    assert row.shipments[0]["carrier"] == "UPS"  # type: ignore[attr-defined]
    assert row.return_items == ["boot-1-41"]  # type: ignore[attr-defined]
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        types = (
            (
                await conn.execute(
                    select(HISTORY.c.type)
                    .where(HISTORY.c.order_id == "o-1")
                    .order_by(HISTORY.c.occurred_at)
                )
            )
            .scalars()
            .all()
        )
    assert list(types) == ["order_completed", "order_updated", *(s[0] for s in steps)]


async def test_cancel_and_exchange_events(client: httpx.AsyncClient, app: FastAPI) -> None:
    await post(client, placed(ADA, "o-2", days_ago(3)), placed(ADA, "o-3", days_ago(3)))
    await post(client, event("order_cancelled", ADA, days_ago(2), order_id="o-2"))
    assert (await order_row(app, "o-2")).status == "cancelled"  # type: ignore[attr-defined]
    swap = [{"item": "boot-1-41", "new_item": "boot-1-42"}]
    await post(client, event("exchange_requested", ADA, days_ago(1), order_id="o-3", items=swap))
    row = await order_row(app, "o-3")
    assert row.status == "exchange_requested"  # type: ignore[attr-defined]
    assert row.exchange_items == swap  # type: ignore[attr-defined]


async def test_bad_lifecycle_events_are_refused_with_a_reason(client: httpx.AsyncClient) -> None:
    no_id = event("order_shipped", ADA, days_ago(1), carrier="UPS")
    empty = event("order_updated", ADA, days_ago(1), order_id="o-9")
    response = await client.post("/v1/events", json={"batch": [no_id, empty]})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "properties.order_id" in fields and any(f.startswith("properties") for f in fields)


async def test_another_customers_event_does_not_touch_the_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, placed(ADA, "o-4", days_ago(2)))
    await post(
        client, event("order_cancelled", {"phone": "+15551230002"}, days_ago(1), order_id="o-4")
    )
    assert (await order_row(app, "o-4")).status == "placed"  # type: ignore[attr-defined]


async def test_a_whole_lifecycle_in_one_batch_folds_in_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Ingestion folds a batch in memory: later events in the batch see the earlier ones."""
    await post(
        client,
        placed(ADA, "o-5", days_ago(3)),
        event("order_shipped", ADA, days_ago(2.5), order_id="o-5", carrier="DHL"),
        event("order_cancelled", {"phone": "+15551230002"}, days_ago(2.2), order_id="o-5"),
        event("order_shipped", ADA, days_ago(2), order_id="o-5", tracking_number="J1"),
        event("order_delivered", ADA, days_ago(1), order_id="o-5"),
        event("order_delivered", ADA, days_ago(1), order_id="o-never-placed"),
    )
    row = await order_row(app, "o-5")
    assert row.status == "delivered"  # type: ignore[attr-defined]
    assert [s["carrier"] for s in row.shipments] == ["DHL", None]  # type: ignore[attr-defined]
    assert row.delivered_at is not None  # type: ignore[attr-defined]
    assert await order_row(app, "o-never-placed") is None
    container: Container = app.state.container
    async with container.readers() as session:
        conn = await session.connection()
        states = (
            await conn.execute(
                select(HISTORY.c.type, HISTORY.c.status)
                .where(HISTORY.c.order_id == "o-5")
                .order_by(HISTORY.c.occurred_at)
            )
        ).all()
    assert [tuple(s) for s in states] == [
        ("order_completed", "placed"),
        ("order_shipped", "shipped"),
        ("order_shipped", "shipped"),
        ("order_delivered", "delivered"),
    ]
