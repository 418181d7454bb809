"""Traits: right whatever order events arrive in; RFM, LTV, cart, consent, engagement."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.profile_store.events import event, order


def story(customer: dict[str, Any]) -> list[dict[str, Any]]:
    """A shopper's week: browsing, a cart, an order, a later cart, a refund, messages."""
    return [
        event("product_viewed", customer, 0, product_id="coat", category="Outerwear"),
        event(
            "added_to_cart", customer, 5, product_id="coat", quantity=1, price=120.0, currency="USD"
        ),
        event(
            "added_to_cart", customer, 6, product_id="scarf", quantity=2, price=15.0, currency="USD"
        ),
        event("removed_from_cart", customer, 7, product_id="scarf", quantity=1),
        order(customer, 30, "o-1", ("coat", 1, 120.0), ("scarf", 1, 15.0), category="Outerwear"),
        event(
            "added_to_cart",
            customer,
            60,
            product_id="gloves",
            quantity=1,
            price=25.0,
            currency="USD",
        ),
        event("order_refunded", customer, 2000, order_id="o-1", amount=15.0, currency="USD"),
        event("message_sent", customer, 2100, channel="sms"),
        event("message_opened", customer, 2101, channel="sms"),
        event("message_clicked", customer, 2102, channel="sms"),
        event("message_replied", customer, 2103, channel="whatsapp"),
    ]


def comparable(profile: dict[str, Any]) -> dict[str, Any]:
    traits = dict(profile["traits"])
    traits.pop("recency_days")  # depends on the wall clock
    return traits


async def test_traits_do_not_depend_on_arrival_order(client: httpx.AsyncClient) -> None:
    in_order = story({"phone": "+15550000001"})
    assert (await client.post("/v1/events", json={"batch": in_order})).status_code == 200
    expected = comparable((await client.get("/v1/profiles/+15550000001")).json())

    for seed, phone in enumerate(["+15550000002", "+15550000003", "+15550000004"]):
        shuffled = story({"phone": phone})
        random.Random(seed).shuffle(shuffled)
        # One event per request, so each is applied on top of already stored traits.
        for item in shuffled:
            assert (await client.post("/v1/events", json=item)).status_code == 200
        assert comparable((await client.get(f"/v1/profiles/{phone}")).json()) == expected


async def test_story_traits(client: httpx.AsyncClient) -> None:
    await client.post("/v1/events", json={"batch": story({"phone": "+15550000009"})})
    traits = (await client.get("/v1/profiles/+15550000009")).json()["traits"]
    # The order emptied the cart as it stood; gloves were added afterwards and stay.
    assert [(i["product_id"], i["quantity"]) for i in traits["open_cart"]["items"]] == [
        ("gloves", 1)
    ]
    assert traits["open_cart"]["value"] == 25.0
    assert traits["frequency"] == 1
    assert traits["monetary"] == {"USD": 135.0}
    assert traits["lifetime_value"] == {"USD": 120.0}
    assert traits["average_order_value"] == {"USD": 135.0}
    assert traits["refund_count"] == 1
    assert traits["recency_days"] > 0
    assert [(p["product_id"], p["count"]) for p in traits["purchased_products"]] == [
        ("coat", 1),
        ("scarf", 1),
    ]
    assert traits["category_affinity"] == {"Outerwear": 1.0}
    assert traits["channel_engagement"] == {
        "sms": {"sent": 1, "opened": 1, "clicked": 1, "replied": 0},
        "whatsapp": {"sent": 0, "opened": 0, "clicked": 0, "replied": 1},
    }
    hours = traits["engagement_hours_utc"]
    assert len(hours) == 24 and sum(hours) == 9  # all but the refund and the sent message
    assert traits["first_seen_at"].startswith("2026-11-20T09:00")


async def test_late_cart_event_from_before_an_order_stays_out(client: httpx.AsyncClient) -> None:
    shopper = {"email": "late@example.com"}
    await client.post("/v1/events", json=order(shopper, 30, "o-9", ("lamp", 1, 40.0)))
    late = event("added_to_cart", shopper, 10, product_id="lamp", price=40.0, currency="USD")
    await client.post("/v1/events", json=late)
    traits = (await client.get("/v1/profiles/email:late@example.com")).json()["traits"]
    assert traits["open_cart"]["items"] == []
    assert traits["event_count"] == 2


async def test_consent_history_keeps_the_latest_by_occurrence(client: httpx.AsyncClient) -> None:
    who = {"phone": "+15550000010"}
    granted = event("consent_changed", who, 0, channel="sms", purpose="marketing", status="granted")
    revoked = event(
        "consent_changed",
        who,
        60,
        channel="sms",
        purpose="marketing",
        status="revoked",
        source="keyword:STOP",
    )
    late_grant = event(
        "consent_changed", who, 30, channel="sms", purpose="marketing", status="granted"
    )
    transactional = event(
        "consent_changed", who, 5, channel="whatsapp", purpose="transactional", status="granted"
    )
    for item in (granted, revoked, late_grant, transactional):
        assert (await client.post("/v1/events", json=item)).status_code == 200

    profile = (await client.get("/v1/profiles/+15550000010")).json()
    assert [
        (c["channel"], c["purpose"], c["status"], c["source"]) for c in profile["consents"]
    ] == [
        ("sms", "marketing", "revoked", "keyword:STOP"),
        ("whatsapp", "transactional", "granted", "event"),
    ]
    assert [c["status"] for c in profile["consent_history"]] == [
        "granted",
        "granted",
        "granted",
        "revoked",
    ]


async def test_bad_consent_is_rejected(client: httpx.AsyncClient) -> None:
    bad = event(
        "consent_changed",
        {"phone": "+15550000011"},
        channel="pigeon",
        purpose="marketing",
        status="maybe",
    )
    response = await client.post("/v1/events", json=bad)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {
        "properties.channel",
        "properties.status",
    }


async def test_identify_sets_profile_fields_newest_wins(client: httpx.AsyncClient) -> None:
    who = {"external_id": "shop-42"}
    newer = event(
        "identify",
        who,
        10,
        first_name="Zoe",
        timezone="Europe/Berlin",
        loyalty_tier="gold",
        shoe_size="42",
    )
    older = event("identify", who, 0, first_name="Zoë-old", locale="de-DE", shoe_size="41")
    await client.post("/v1/events", json=newer)
    await client.post("/v1/events", json=older)
    profile = (await client.get("/v1/profiles/external_id:shop-42")).json()
    assert (profile["first_name"], profile["timezone"], profile["loyalty_tier"]) == (
        "Zoe",
        "Europe/Berlin",
        "gold",
    )
    assert profile["locale"] == "de-DE"  # only the older event set it
    assert profile["attributes"] == {"shoe_size": "42"}
    bad_zone = event("identify", who, 20, timezone="Mars/Olympus")
    assert (await client.post("/v1/events", json=bad_zone)).json()["errors"][0][
        "field"
    ] == "properties.timezone"
