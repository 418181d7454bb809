"""Automated messages that say something: the coat story through the real channel adapters and
fake Telegram and Twilio servers, on every channel. The cart reminder names and shows the cart's
product (photo and button, image and text, or a line with a short link and the opt-out line);
the link is tracked; after the order, the post-purchase message shows complements, never the
coat. Both databases.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select

from channels.twilio.format import sms_segments
from policy.guardrails import WhatsAppTemplate
from policy.message_copy import Brand
from profile_store import clock
from profile_store.models import Decision
from tests.channels.conftest import PUBLIC_URL, Shop
from tests.channels.test_inbound_pipeline import sms
from tests.conftest import WRITE_KEY
from tests.scheduler.catalog import PRODUCTS

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
ANN = {"phone": "+12125550100", "telegram_id": "777001"}  # New York by area code


def event(event_id: str, type_: str, at: datetime, **props: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "customer": ANN,
        "properties": props,
        "occurred_at": at.isoformat(),
    }


async def post(shop: Shop, *events: dict[str, Any]) -> None:
    response = await shop.http.post("/v1/events", json={"batch": list(events)}, headers=AUTH)
    assert response.status_code == 200, response.text


async def run(shop: Shop, until: datetime) -> None:
    """The scheduler, every 30 minutes up to ``until``, as its loop would."""
    at = clock.now()
    while at <= until:
        while await shop.container.scheduler.run_once(at):
            pass
        at += timedelta(minutes=30)


async def a_shopper_with_a_coat_in_the_cart(
    shop: Shop, channel: str, *, wrote_today: bool = True
) -> datetime:
    response = await shop.http.post(
        "/v1/catalog/products", json={"products": PRODUCTS}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    rules = shop.container.guardrails
    shop.container.guardrails = rules.model_copy(
        update={
            "brand": Brand(name="Fjord & Field"),
            # No holdout (customer ids are random), and the built-in copy (one variant).
            "programs": {
                n: p.model_copy(update={"holdout_percent": 0, "variants": []})
                for n, p in rules.programs.items()
            },
            # No discount in play: before any data the decisioning would try one on a coin
            # flip, and these tests are about the content, not that choice.
            "decisioning": rules.decisioning.model_copy(update={"discount_percent": 0}),
        }
    )
    now = clock.now()
    await post(
        shop,
        event(
            "id", "identify", now - timedelta(days=2), first_name="Ann", preferred_channel=channel
        ),
        event(
            "consent",
            "consent_changed",
            now - timedelta(days=2),
            channel=channel,
            purpose="marketing",
            status="granted",
        ),
    )
    if channel == "whatsapp" and wrote_today:  # free text may go out
        await shop.twilio_form("whatsapp", sms("SMwa1", "hi", sender="whatsapp:+12125550100"))
        await shop.work()
        shop.twilio.requests.clear()
    await post(
        shop, event("cart", "added_to_cart", now, product_id="coat", price=199.0, currency="USD")
    )
    return now


def tracked(url: str | None) -> str:
    assert url and url.startswith(f"{PUBLIC_URL}/l/"), url
    return urlparse(url).path


async def follow(shop: Shop, path: str) -> str:
    response = await shop.http.get(path)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def decision_outcomes(shop: Shop, program: str) -> list[str | None]:
    async with shop.container.sessions() as session:
        conn = await session.connection()
        rows = await conn.execute(select(DECISIONS.c.outcome).where(DECISIONS.c.program == program))
        return [row.outcome for row in rows]


async def test_the_cart_reminder_shows_the_coat_on_telegram(shop: Shop) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "telegram")
    await run(shop, start + timedelta(days=1))
    text, photo = shop.telegram.sent
    assert (
        text.params["text"]
        == "Ann, your cart is saved: Fjell Storm Coat (199.00 USD). Ready when you are."
    )
    assert photo.method == "sendPhoto"
    assert photo.params["photo"] == "https://cdn.shop.example/coat.jpg"
    assert "Fjell Storm Coat" in photo.params["caption"] and "199.00 USD" in photo.params["caption"]
    button = photo.json("reply_markup")["inline_keyboard"][0][0]
    assert await follow(shop, tracked(button["url"])) == "https://shop.example/p/coat"
    assert await decision_outcomes(shop, "cart_abandoned") == ["clicked"]


async def test_the_cart_reminder_by_sms_fits_with_the_brand_link_and_opt_out(shop: Shop) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "sms")
    await run(shop, start + timedelta(days=1))
    (message,) = shop.twilio.sent
    body = message.get("Body") or ""
    assert body.startswith("Fjord & Field: Ann, your cart is saved: Fjell Storm Coat")
    assert body.endswith("Reply STOP to opt out.")
    assert "Fjell Storm Coat 199.00 USD\n" in body
    link = next(word for word in body.split() if word.startswith(PUBLIC_URL))
    assert await follow(shop, tracked(link)) == "https://shop.example/p/coat"
    assert sms_segments(body) <= shop.container.settings.sms_max_segments


async def test_the_cart_reminder_on_whatsapp_is_text_then_the_product_with_its_image(
    shop: Shop,
) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "whatsapp")
    await run(shop, start + timedelta(days=1))
    text, card = shop.twilio.sent
    assert (text.get("Body") or "").startswith("Ann, your cart is saved: Fjell Storm Coat")
    assert card.get("MediaUrl") == "https://cdn.shop.example/coat.jpg"
    assert "*Fjell Storm Coat*" in (card.get("Body") or "")
    assert text.get("To") == "whatsapp:+12125550100"


async def test_after_the_order_the_message_shows_complements_never_the_coat(shop: Shop) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "telegram")
    order = event(
        "order",
        "order_completed",
        start + timedelta(minutes=5),
        order_id="o-1",
        total=199.0,
        currency="USD",
        items=[{"product_id": "coat", "quantity": 1, "price": 199.0}],
    )
    await post(shop, order)
    await run(shop, start + timedelta(days=4))
    assert await decision_outcomes(shop, "cart_abandoned") == []  # the order cancelled it
    photos = [m for m in shop.telegram.sent if m.method == "sendPhoto"]
    captions = [m.params["caption"] for m in photos]
    assert 2 <= len(captions) <= 3
    assert not any("Storm Coat" in caption for caption in captions)
    assert any("Fjell" in caption for caption in captions)  # the coat's brand goes with it
    (text,) = [m for m in shop.telegram.sent if m.method == "sendMessage"]
    assert text.params["text"] == "Thanks for your order, Ann! These go well with it:"


async def test_an_emptied_cart_sends_nothing_and_says_why(shop: Shop) -> None:
    program = "cart_abandoned"
    start = await a_shopper_with_a_coat_in_the_cart(shop, "telegram")
    await post(
        shop,
        event(
            "rm", "removed_from_cart", start + timedelta(minutes=1), product_id="coat", price=199.0
        ),
    )
    await run(shop, start + timedelta(days=1))
    assert shop.telegram.sent == []
    async with shop.container.sessions() as session:
        conn = await session.connection()
        (decision,) = (
            await conn.execute(select(DECISIONS).where(DECISIONS.c.program == program))
        ).all()
    assert decision.verdict == "suppressed"
    (shown,) = [r for r in decision.reasons if r["code"] == "nothing_to_show"]
    assert shown["detail"] == "the cart is empty"
    assert not any(r.get("channel") == "telegram" for r in decision.reasons)  # else allowed


async def test_a_code_in_an_automated_message_is_one_the_shop_can_check(shop: Shop) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "sms")
    rules = shop.container.guardrails
    static = rules.decisioning.model_copy(update={"mode": "static"})  # 10% to everyone
    shop.container.guardrails = rules.model_copy(update={"decisioning": static})
    await run(shop, start + timedelta(days=1))
    (message,) = shop.twilio.sent
    body = message.get("Body") or ""
    code = next(word for word in body.split() if word.startswith("CC-"))
    checked = await shop.http.get(
        f"/v1/discounts/{code}", params={"customer": "+12125550100"}, headers=AUTH
    )
    assert checked.status_code == 200, checked.text
    answer = checked.json()
    assert answer["valid"] is True and answer["percent"] == 10
    assert answer["product_ids"] == ["coat"]
    await post(
        shop,
        event(
            "order",
            "order_completed",
            clock.now(),
            order_id="o-1",
            total=179.1,
            currency="USD",
            discount_code=code,
            items=[{"product_id": "coat", "quantity": 1, "price": 179.1}],
        ),
    )
    again = await shop.http.get(f"/v1/discounts/{code}", headers=AUTH)
    assert again.json()["status"] == "redeemed"


async def test_a_whatsapp_template_links_to_the_product_through_a_tracked_link(
    shop: Shop,
) -> None:
    start = await a_shopper_with_a_coat_in_the_cart(shop, "whatsapp", wrote_today=False)
    rules = shop.container.guardrails
    template = WhatsAppTemplate(
        content_sid="HX" + "c" * 32, variables=["first_name", "product_name", "product_url"]
    )
    cart = rules.programs["cart_abandoned"].model_copy(update={"whatsapp_template": template})
    shop.container.guardrails = rules.model_copy(
        update={"programs": {**rules.programs, "cart_abandoned": cart}}
    )
    await run(shop, start + timedelta(days=1))
    (message,) = [m for m in shop.twilio.sent if m.get("ContentSid")]
    variables = json.loads(message.get("ContentVariables") or "")
    assert variables["1"] == "Ann" and variables["2"] == "Fjell Storm Coat"
    assert await follow(shop, tracked(variables["3"])) == "https://shop.example/p/coat"
    assert await decision_outcomes(shop, "cart_abandoned") == ["clicked"]
