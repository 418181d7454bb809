"""The events API: auth, validation errors by index and field, atomic batches, idempotency."""

from __future__ import annotations

import httpx

from tests.profile_store.events import event, order

PHONE = {"phone": "+15551234567"}


async def test_write_key_is_required(client: httpx.AsyncClient) -> None:
    body = event("product_viewed", PHONE, product_id="sku-1")
    missing = await client.post("/v1/events", json=body, headers={"Authorization": ""})
    wrong = await client.post("/v1/events", json=body, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert "write key" in missing.json()["detail"]
    assert (await client.get("/v1/profiles/+15551234567")).status_code == 404
    assert (
        await client.get("/v1/profiles/+15551234567", headers={"Authorization": ""})
    ).status_code == 401


async def test_event_updates_profile_at_once(client: httpx.AsyncClient) -> None:
    body = event(
        "added_to_cart",
        {"phone": "(555) 123-4567"},
        product_id="sku-1",
        quantity=2,
        price=59.0,
        currency="usd",
    )
    response = await client.post("/v1/events", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1

    profile = (await client.get("/v1/profiles/+15551234567")).json()
    assert profile["identities"][0] == {
        **profile["identities"][0],
        "kind": "phone",
        "value": "+15551234567",
    }
    cart = profile["traits"]["open_cart"]
    assert cart["value"] == 118.0
    assert cart["currency"] == "USD"
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [("sku-1", 2)]
    assert profile["recent_events"][0]["event_id"] == body["event_id"]


async def test_bad_event_rejects_whole_batch_naming_index_and_field(
    client: httpx.AsyncClient,
) -> None:
    good = event("product_viewed", {"email": "ok@example.com"}, product_id="sku-1")
    bad_phone = event("product_viewed", {"phone": "not a phone"}, product_id="sku-2")
    naive_time = event("product_viewed", PHONE, product_id="sku-3")
    naive_time["occurred_at"] = "2026-11-20T09:00:00"
    bad_order = event("order_completed", PHONE, order_id="o-1", total=10, currency="USD")

    response = await client.post(
        "/v1/events", json={"batch": [good, bad_phone, naive_time, bad_order]}
    )
    assert response.status_code == 422
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert errors == {
        (1, "customer.phone"),
        (2, "occurred_at"),
        (3, "properties.items"),
    }
    assert "no event of this request was stored" in response.json()["detail"]
    assert (await client.get("/v1/profiles/email:ok@example.com")).status_code == 404


async def test_same_event_id_is_stored_once(client: httpx.AsyncClient) -> None:
    body = order(PHONE, 0, "o-1", ("sku-1", 1, 50.0))
    first = await client.post("/v1/events", json=body)
    again = await client.post("/v1/events", json={"batch": [body, body]})
    assert first.json()["accepted"] == 1
    assert again.json() == {**again.json(), "accepted": 0, "duplicates": 2}
    traits = (await client.get("/v1/profiles/+15551234567")).json()["traits"]
    assert traits["frequency"] == 1
    assert traits["monetary"] == {"USD": 50.0}
    assert traits["event_count"] == 1


async def test_shape_errors_are_clear(client: httpx.AsyncClient) -> None:
    not_json = await client.post(
        "/v1/events", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert "JSON" in not_json.json()["detail"]
    assert (await client.post("/v1/events", json=[1, 2])).status_code == 422
    assert (await client.post("/v1/events", json={"batch": []})).status_code == 422
    too_many = [event("product_viewed", PHONE, product_id="p") for _ in range(1001)]
    over = await client.post("/v1/events", json={"batch": too_many})
    assert over.status_code == 413
    assert "1000" in over.json()["detail"]
    no_customer = event("product_viewed", {}, product_id="p")
    response = await client.post("/v1/events", json=no_customer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer"
    unknown_field = {**event("product_viewed", PHONE, product_id="p"), "colour": "red"}
    assert (await client.post("/v1/events", json=unknown_field)).json()["errors"][0][
        "field"
    ] == "colour"
    future = event("product_viewed", PHONE, product_id="p")
    future["occurred_at"] = "2999-01-01T00:00:00Z"
    assert (await client.post("/v1/events", json=future)).json()["errors"][0][
        "field"
    ] == "occurred_at"


async def test_unknown_customer_id_is_rejected(client: httpx.AsyncClient) -> None:
    body = event("product_viewed", {"customer_id": "cus_missing"}, product_id="p")
    response = await client.post("/v1/events", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer.customer_id"


async def test_custom_events_are_stored(client: httpx.AsyncClient) -> None:
    body = event("wishlist_added", PHONE, product_id="sku-9", note="for later")
    assert (await client.post("/v1/events", json=body)).status_code == 200
    profile = (await client.get("/v1/profiles/phone:+15551234567")).json()
    assert profile["recent_events"][0]["type"] == "wishlist_added"
    assert profile["recent_events"][0]["properties"] == {"product_id": "sku-9", "note": "for later"}


async def test_profile_ref_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/profiles/whoknows")).status_code == 422
    assert (await client.get("/v1/profiles/phone:12")).status_code == 422
    assert (await client.get("/v1/profiles/cus_nobody")).status_code == 404


async def test_openapi_documents_the_events_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]
    assert "oneOf" in body["content"]["application/json"]["schema"]
    assert "EventIn" in spec["components"]["schemas"]


async def test_a_whatsapp_id_is_validated_and_kept_as_whatsapp_sent_it(
    client: httpx.AsyncClient,
) -> None:
    bsuid = "US.13491208655302741918"  # Meta's example; the format is cited in normalize.py
    prefixed = event("product_viewed", {"whatsapp_id": f"whatsapp:{bsuid}"}, product_id="p1")
    parent = event("product_viewed", {"whatsapp_id": "US.ENT.11815799212886844830"}, product_id="p")
    a_phone = event("product_viewed", {"whatsapp_id": "+15551234567"}, product_id="p2")
    lower = event("product_viewed", {"whatsapp_id": "us.13491208655302741918"}, product_id="p3")
    response = await client.post("/v1/events", json={"batch": [prefixed, parent, a_phone, lower]})
    assert response.status_code == 422
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (2, "customer.whatsapp_id"),
        (3, "customer.whatsapp_id"),
    ]
    response = await client.post("/v1/events", json={"batch": [prefixed, parent]})
    assert response.status_code == 200, response.text
    profile = (await client.get(f"/v1/profiles/whatsapp_id:{bsuid}")).json()
    assert [(i["kind"], i["value"]) for i in profile["identities"]] == [("whatsapp_id", bsuid)]
