"""Decisions that must not send, at any hour: a purchase suppressing its whole category (with the
categories from the catalog, as shops send orders without them), a block that cannot lift, a
history import, and a channel this deployment has no credentials for. Both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.factory import create_app
from app.settings import Settings
from policy.guardrails import FrequencyCap, Program, PurchaseSuppression
from profile_store.clock import ShiftedClock
from tests.conftest import WRITE_KEY
from tests.scheduler.conftest import Shop
from tests.scheduler.test_stories import ANN, ev, opted_in

PHONE = ANN["phone"]  # New York by its area code
EVENING = datetime(2026, 11, 10, 3, 30, tzinfo=UTC)  # 22:30 in New York: quiet hours
MIDDAY = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)  # 12:00 in New York


def coat(product_id: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": f"Storm Coat {product_id}",
        "category": ["Clothing", "Coats"],
        "price": 150,
        "currency": "USD",
    }


def with_rules(shop: Shop, **changes: Any) -> None:
    shop.container.guardrails = shop.container.guardrails.model_copy(update=changes)


async def browse_decision(shop: Shop) -> dict[str, Any]:
    (decision,) = [d for d in await shop.decisions(PHONE) if d["program"] == "browse_abandoned"]
    return decision


@pytest.mark.parametrize("hour", [MIDDAY, EVENING], ids=["midday", "evening"])
async def test_a_purchase_suppresses_its_category_with_categories_from_the_catalog(
    shop: Shop, test_clock: ShiftedClock, hour: datetime
) -> None:
    test_clock.set(hour)
    response = await shop.client.post(
        "/v1/catalog/products", json={"products": [coat("coat-1"), coat("coat-2")]}
    )
    assert response.status_code == 200, response.text
    with_rules(shop, purchase_suppression=PurchaseSuppression(days=30, scope="category"))
    await shop.post(*opted_in(ANN, hour - timedelta(days=1), "sms", "telegram"))
    order = ev(
        "order_completed",
        ANN,
        hour,
        order_id="o-1",
        total=150.0,
        currency="USD",
        items=[{"product_id": "coat-1", "quantity": 1, "price": 150.0}],  # no category
    )
    await shop.post(order, ev("product_viewed", ANN, hour, product_id="coat-2"))
    await shop.run(hour + timedelta(hours=3))
    decision = await browse_decision(shop)
    assert decision["verdict"] == "suppressed"
    assert decision["details"]["action"]["categories"] == ["clothing > coats"]
    codes = {r["code"] for r in decision["reasons"]}
    assert "recently_purchased" in codes
    assert shop.outbox.sent == []


@pytest.mark.parametrize("hour", [MIDDAY, EVENING], ids=["midday", "evening"])
async def test_a_cap_of_zero_or_a_program_switched_off_suppresses_now_not_later(
    shop: Shop, test_clock: ShiftedClock, hour: datetime
) -> None:
    test_clock.set(hour)
    await shop.post(*opted_in(ANN, hour - timedelta(days=1), "sms", "telegram"))
    with_rules(shop, frequency_caps=[FrequencyCap(max_messages=0, window=timedelta(days=7))])
    await shop.post(ev("product_viewed", ANN, hour, product_id="boot-1"))
    await shop.run(hour + timedelta(hours=2, minutes=1))
    decision = await browse_decision(shop)
    assert decision["verdict"] == "suppressed"  # not deferred to the morning: it never lifts
    assert "the cap is 0" in str(decision["reasons"])

    with_rules(
        shop,
        frequency_caps=[],
        programs={"cart_abandoned": Program(enabled=False)},
    )
    later = hour + timedelta(days=1)
    await shop.post(ev("added_to_cart", ANN, later, product_id="boot-1", price=9.0, currency="USD"))
    await shop.run(later + timedelta(minutes=31))
    (cart,) = [d for d in await shop.decisions(PHONE) if d["program"] == "cart_abandoned"]
    assert cart["verdict"] == "suppressed"
    assert "program_disabled" in {r["code"] for r in cart["reasons"]}
    assert shop.outbox.sent == []


async def test_history_arms_no_trigger(shop: Shop, test_clock: ShiftedClock) -> None:
    test_clock.set(MIDDAY)
    await shop.post(*opted_in(ANN, MIDDAY - timedelta(days=60), "sms", "telegram"))
    old_cart = ev(
        "added_to_cart",
        ANN,
        MIDDAY - timedelta(days=40),
        product_id="boot-1",
        price=9.0,
        currency="USD",
    )
    old_order = ev(
        "order_completed",
        ANN,
        MIDDAY - timedelta(days=50),
        order_id="o-old",
        total=9.0,
        currency="USD",
        items=[{"product_id": "boot-2", "quantity": 1, "price": 9.0}],
    )
    late_view = ev("product_viewed", ANN, MIDDAY - timedelta(hours=3), product_id="boot-3")
    await shop.post(old_cart, old_order, late_view)
    await shop.run(MIDDAY + timedelta(days=4))
    decided = sorted(d["program"] for d in await shop.decisions(PHONE))
    # The view three hours ago is late but still live (its window ended an hour ago); the
    # 40-day-old cart and the 50-day-old order are history.
    assert decided == ["browse_abandoned"]


@pytest.fixture
async def telegram_only(settings: Settings) -> Any:
    """The real channel adapters with only Telegram configured (no Twilio credentials)."""
    from tests.channels.conftest import BOT_TOKEN, TG_SECRET
    from tests.fake_providers.server import serve
    from tests.fake_providers.telegram_api import FakeTelegramApi

    telegram = FakeTelegramApi()
    async with serve(telegram.app) as url:
        values = settings.model_dump() | {
            "telegram_bot_token": BOT_TOKEN,
            "telegram_webhook_secret": TG_SECRET,
            "telegram_api_url": url,
        }
        app: FastAPI = create_app(Settings(_env_file=None, **values))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {WRITE_KEY}"},
            ) as client,
        ):
            yield app, client, telegram


async def test_a_channel_without_credentials_is_never_a_candidate(
    telegram_only: Any, test_clock: ShiftedClock
) -> None:
    app, client, telegram = telegram_only
    test_clock.set(MIDDAY)
    container = app.state.container
    rules = container.guardrails  # no holdout: customer ids, and so buckets, are random
    container.guardrails = rules.model_copy(
        update={
            "programs": {
                n: p.model_copy(update={"holdout_percent": 0}) for n, p in rules.programs.items()
            }
        }
    )
    events = [
        *opted_in(ANN, MIDDAY - timedelta(days=1), "sms", "telegram"),
        ev("product_viewed", ANN, MIDDAY, product_id="boot-1"),
    ]
    assert (await client.post("/v1/events", json={"batch": events})).status_code == 200
    scheduler = app.state.container.scheduler
    for hours in (3, 4):  # decide, then send at the hour chosen
        test_clock.set(MIDDAY + timedelta(hours=hours))
        while await scheduler.run_once(MIDDAY + timedelta(hours=hours)):
            pass
    decisions = (await client.get("/v1/decisions", params={"customer": PHONE})).json()
    (decision,) = decisions
    assert decision["channel"] == "telegram" and decision["outcome"] == "sent"
    sms = next(c for c in decision["details"]["candidates"] if c["channel"] == "sms")
    assert [r["code"] for r in sms["reasons"]] == ["channel_not_configured"]
    # The message and its product card, on Telegram.
    assert {m.params["chat_id"] for m in telegram.sent} == {ANN["telegram_id"]}
