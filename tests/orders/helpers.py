"""Shared setup for the order tests: a shopper with orders, a conversation, a small catalog."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from fastapi import FastAPI

from app.container import Container
from policy.guardrails import Guardrails
from profile_store import clock
from profile_store.identity import find_customer_id
from profile_store.models import Channel, Conversation, new_id
from profile_store.schemas import CustomerRef
from tools.agent_tools.shopper import Shopper, ToolServices
from tools.catalog.schema import Product, Variant
from tools.catalog.store import Catalog

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_ids = itertools.count(1)
BOOTS = Product(
    id="boot-1",
    name="Trail Boots",
    price=120,
    currency="USD",
    variants=[
        Variant(sku="boot-1-41", size="41", colour="brown", stock=3),
        Variant(sku="boot-1-42", size="42", colour="brown", stock=2),
        Variant(sku="boot-1-43", size="43", colour="brown", stock=0),
    ],
)


class FakeCatalog:
    """Only what the order tools ask a catalog: one product by id."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = {p.id: p for p in products}

    async def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)


def event(type_: str, customer: dict[str, Any], when: datetime, **props: Any) -> dict[str, Any]:
    return {
        "event_id": f"ord-{next(_ids)}",
        "type": type_,
        "customer": customer,
        "properties": props,
        "occurred_at": when.isoformat(),
    }


def placed(customer: dict[str, Any], order_id: str, when: datetime) -> dict[str, Any]:
    return event(
        "order_completed",
        customer,
        when,
        order_id=order_id,
        total=120,
        currency="USD",
        email="ada@example.com",
        address={"address1": "1 Main St", "city": "Springfield", "zip": "12345"},
        items=[
            {
                "product_id": "boot-1",
                "variant_id": "boot-1-41",
                "name": "Trail Boots",
                "quantity": 1,
                "price": 120,
            }
        ],
    )


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> httpx.Response:
    response = await client.post("/v1/events", json={"batch": list(events)})
    assert response.status_code == 200, response.text
    return response


async def open_conversation(
    app: FastAPI, customer: dict[str, Any], channel: Channel, address: str
) -> Shopper:
    container: Container = app.state.container
    async with container.sessions() as session:
        customer_id = await find_customer_id(session, CustomerRef.model_validate(customer))
        assert customer_id is not None
        conversation_id = new_id("cnv")
        conn = await session.connection()
        await conn.execute(
            CONVERSATIONS.insert().values(
                id=conversation_id,
                customer_id=customer_id,
                channel=channel.value,
                address=address,
                owner="bot",
                created_at=clock.now(),
            )
        )
        await session.commit()
    return Shopper(customer_id, channel, conversation_id, effect_key="turn-1:tool:0")


def in_turn(shopper: Shopper, turn: str) -> Shopper:
    return Shopper(shopper.customer_id, shopper.channel, shopper.conversation_id, f"{turn}:t:0")


def services_of(app: FastAPI, *, shop: bool = False, **orders: Any) -> ToolServices:
    container: Container = app.state.container
    rules = container.guardrails
    if orders:
        rules = rules.model_copy(update={"orders": rules.orders.model_copy(update=orders)})
    fixed: Guardrails = rules
    catalog = FakeCatalog([BOOTS])

    async def open_catalog() -> Catalog:
        return cast(Catalog, catalog)

    return ToolServices(
        container.readers, open_catalog, lambda: fixed, container.sessions, shop_requests=shop
    )


def days_ago(days: float) -> datetime:
    return clock.now() - timedelta(days=days)
