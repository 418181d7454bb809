"""Marketer copy through the admin API: templates refused with their path when they would not
render, the preview of a program's message for a customer on each channel."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin_tokens import admin_headers
from tests.channels.conftest import PUBLIC_URL, Shop
from tests.conftest import WRITE_KEY
from tests.scheduler.catalog import PRODUCTS

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


async def document(shop: Shop, headers: dict[str, str]) -> dict[str, Any]:
    body = (await shop.http.get("/admin/v1/guardrails", headers=headers)).json()
    return dict(body["document"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi {{ frist_name }}!", "unknown placeholder 'frist_name'"),
        ("{{ product.nmae }} is waiting", "does not render"),
        ("{% if first_name %}Hi", "syntax error"),
        ("{{ ''.__class__.__mro__ }}", "does not render"),  # the sandbox refuses it
    ],
)
async def test_copy_that_would_not_render_is_refused_with_its_path(
    shop: Shop, text: str, problem: str
) -> None:
    headers = await admin_headers(shop.container)
    edited = await document(shop, headers)
    edited["programs"] = {
        **edited["programs"],
        "cart_abandoned": {
            "variants": [
                {"id": "a", "text": "Your cart: {{ product.name }}"},
                {"id": "b", "text": text},
            ]
        },
    }
    response = await shop.http.put("/admin/v1/guardrails", json=edited, headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]["errors"]
    assert error["path"] == "programs.cart_abandoned.variants.1.text"
    assert problem in error["message"]


async def test_copy_variants_are_saved_as_a_new_version(shop: Shop) -> None:
    headers = await admin_headers(shop.container)
    edited = await document(shop, headers)
    edited["programs"] = {
        **edited["programs"],
        "cart_abandoned": {
            "variants": [
                {"id": "short", "text": "{{ product.name }} is still in your cart."},
                {"id": "de", "locale": "de", "text": "{{ product.name }} liegt noch im Warenkorb."},
            ],
        },
    }
    response = await shop.http.put("/admin/v1/guardrails", json=edited, headers=headers)
    assert response.status_code == 200, response.text
    variants = shop.container.guardrails.program("cart_abandoned").variants
    assert [v.id for v in variants] == ["short", "de"]


async def a_customer_with_a_cart(shop: Shop, locale: str = "en") -> None:
    response = await shop.http.post(
        "/v1/catalog/products", json={"products": PRODUCTS}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    who = {"phone": "+12125550100"}
    events = [
        {
            "event_id": "i",
            "type": "identify",
            "customer": who,
            "properties": {"first_name": "Ann", "locale": locale},
            "occurred_at": "2026-11-26T10:00:00Z",
        },
        {
            "event_id": "c",
            "type": "added_to_cart",
            "customer": who,
            "properties": {"product_id": "coat", "price": 199.0, "currency": "USD"},
            "occurred_at": "2026-11-26T10:00:00Z",
        },
    ]
    assert (await shop.http.post("/v1/events", json={"batch": events}, headers=AUTH)).is_success


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
async def test_the_preview_renders_a_customers_message_for_each_channel(
    shop: Shop, channel: str
) -> None:
    headers = await admin_headers(shop.container)
    await a_customer_with_a_cart(shop)
    body = {
        "program": "cart_abandoned",
        "customer": "+12125550100",
        "channel": channel,
        "variant": "saved",
    }
    response = await shop.http.post("/admin/v1/messages/preview", json=body, headers=headers)
    assert response.status_code == 200, response.text
    preview = response.json()
    brand = "Trailhead Outfitters: " if channel == "sms" else ""  # the demo brand, on SMS
    assert preview["text"].startswith(f"{brand}Ann, your cart is saved: Fjell Storm Coat")
    assert [card["id"] for card in preview["cards"]] == ["coat"]
    assert preview["nothing_to_show"] is None
    if channel == "sms":
        (part,) = preview["parts"]
        assert part.endswith("Reply STOP to opt out.") and preview["sms_segments"] <= 4
    elif channel == "telegram":
        assert preview["parts"][1].startswith("<b>Fjell Storm Coat</b>")
    else:
        assert preview["parts"][1].startswith("*Fjell Storm Coat*")
    assert shop.telegram.sent == [] and shop.twilio.sent == []  # nothing was sent
    assert not any(PUBLIC_URL in part for part in preview["parts"])  # no tracked link made


async def test_the_preview_follows_the_customers_locale_and_says_when_nothing_would_go(
    shop: Shop,
) -> None:
    headers = await admin_headers(shop.container)
    edited = await document(shop, headers)
    edited["programs"] = {
        **edited["programs"],
        "cart_abandoned": {
            "variants": [
                {"id": "en", "text": "{{ product.name }} is still in your cart."},
                {"id": "de", "locale": "de", "text": "{{ product.name }} liegt noch im Warenkorb."},
            ],
        },
    }
    assert (await shop.http.put("/admin/v1/guardrails", json=edited, headers=headers)).is_success
    await a_customer_with_a_cart(shop, locale="de-AT")
    ask = {"program": "cart_abandoned", "customer": "+12125550100", "channel": "telegram"}
    german = (await shop.http.post("/admin/v1/messages/preview", json=ask, headers=headers)).json()
    assert (german["variant"], german["text"]) == (
        "de",
        "Fjell Storm Coat liegt noch im Warenkorb.",
    )
    wrong = await shop.http.post(
        "/admin/v1/messages/preview", json={**ask, "variant": "fr"}, headers=headers
    )
    assert wrong.status_code == 422 and "no variant 'fr'" in wrong.json()["detail"]
    empty = {**ask, "customer": "+12125550199"}
    await shop.http.post(
        "/v1/events",
        json={
            "event_id": "x",
            "type": "identify",
            "customer": {"phone": "+12125550199"},
            "properties": {},
            "occurred_at": "2026-11-26T10:00:00Z",
        },
        headers=AUTH,
    )
    nothing = (
        await shop.http.post("/admin/v1/messages/preview", json=empty, headers=headers)
    ).json()
    assert nothing["nothing_to_show"] == "the cart is empty" and nothing["parts"] == []
