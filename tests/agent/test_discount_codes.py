"""Discount codes behave like money: one active code per shopper per offer window, an expiry and
a scope, validated by the shop, redeemed by the order that carries the code, and never offered
on something the shopper just bought. Offline planner, Telegram, the real pipeline."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from profile_store import clock
from profile_store.models import DiscountCode
from tests.agent.test_agent_actions import DECISIONS, Chat
from tests.agent.test_conversation_context import BOOTS
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID

CODES = DiscountCode.__table__  # type: ignore[attr-defined]
CODE = re.compile(r"CC-[0-9A-F]{8}")


def order(order_id: str, product_id: str, code: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "order_id": order_id,
        "total": 120.0,
        "currency": "USD",
        "items": [{"product_id": product_id, "quantity": 1, "price": 120.0}],
    }
    if code:
        properties["discount_code"] = code
    return {
        "event_id": f"order-{order_id}",
        "type": "order_completed",
        "customer": {"telegram_id": str(CHAT_ID)},
        "properties": properties,
        "occurred_at": clock.now().isoformat(),
    }


async def test_asking_again_and_again_returns_the_same_code(shop: Shop) -> None:
    chat = Chat(shop)
    codes = set()
    for _ in range(8):
        reply = await chat.say("can I have a coupon code")
        codes.update(CODE.findall(reply))
    assert len(codes) == 1
    (row,) = await chat.rows(CODES)
    assert row.code in codes and row.status == "active" and row.percent == 10
    assert row.expires_at == row.issued_at + timedelta(days=7)


async def test_the_shop_validates_a_code_and_the_order_carrying_it_redeems_it(
    shop: Shop,
) -> None:
    chat = Chat(shop)
    (code,) = CODE.findall(await chat.say("any discount for me?"))
    unauthenticated = await shop.http.get(f"/v1/discounts/{code}")
    assert unauthenticated.status_code == 401
    checked = await shop.http.get(f"/v1/discounts/{code}", headers=chat.auth)
    assert checked.status_code == 200
    body = checked.json()
    assert body["valid"] is True and body["status"] == "active" and body["percent"] == 10
    other = await shop.http.get(
        f"/v1/discounts/{code}", params={"customer": "+15550001111"}, headers=chat.auth
    )
    assert other.json()["valid"] is False and "another shopper" in other.json()["reason"]
    assert (await shop.http.get("/v1/discounts/CC-00000000", headers=chat.auth)).status_code == 404

    stored = await shop.http.post(
        "/v1/events", json=order("A-1", "boot-x", code), headers=chat.auth
    )
    assert stored.status_code in (200, 202), stored.text
    redeemed = (await shop.http.get(f"/v1/discounts/{code}", headers=chat.auth)).json()
    assert redeemed["status"] == "redeemed" and redeemed["valid"] is False
    assert redeemed["order_id"] == "A-1"
    # Redeemed, it no longer blocks a new one.
    (again,) = CODE.findall(await chat.say("any discount for me?"))
    assert again != code


async def test_an_expired_code_is_invalid_and_a_new_one_can_be_given(shop: Shop) -> None:
    chat = Chat(shop)
    (code,) = CODE.findall(await chat.say("do you have a promo code"))
    clock_now = clock.now()
    from tests.conftest import move_clock

    move_clock(clock_now + timedelta(days=8))
    expired = (await shop.http.get(f"/v1/discounts/{code}", headers=chat.auth)).json()
    assert expired["status"] == "expired" and expired["valid"] is False
    (fresh,) = CODE.findall(await chat.say("do you have a promo code"))
    assert fresh != code


async def test_no_offer_on_a_product_bought_within_the_suppression_window(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert(BOOTS[:1])
    chat = Chat(shop)
    await chat.say("hi")
    stored = await shop.http.post("/v1/events", json=order("B-1", "boot-ridge"), headers=chat.auth)
    assert stored.status_code in (200, 202), stored.text
    assert "Ridge Hiking Boot" in await chat.say("hiking boots")
    reply = await chat.say("can I get 10% off that one?")
    assert "CC-" not in reply and "bought that recently" in reply
    (decision,) = await chat.rows(DECISIONS, DECISIONS.c.action == "offer_discount")
    assert decision.verdict == "suppressed" and decision.product_ids == ["boot-ridge"]
    assert decision.reasons[0]["code"] == "recently_purchased"
    assert not await chat.rows(CODES)
