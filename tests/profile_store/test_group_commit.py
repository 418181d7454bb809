"""Concurrent requests share transactions, yet each keeps its own all-or-nothing outcome."""

from __future__ import annotations

import asyncio

import httpx

from tests.profile_store.events import event


async def test_concurrent_batches_share_customers_without_duplicates(
    client: httpx.AsyncClient,
) -> None:
    phones = [f"+1555000{n:04d}" for n in range(20)]
    batches = [
        [event("product_viewed", {"phone": p}, k, product_id=f"p-{k}") for p in phones]
        for k in range(8)
    ]
    responses = await asyncio.gather(
        *(client.post("/v1/events", json={"batch": batch}) for batch in batches)
    )
    assert [r.status_code for r in responses] == [200] * 8
    assert sum(r.json()["accepted"] for r in responses) == 160
    owners = {tuple(r.json()["customer_ids"]) for r in responses}
    assert len(owners) == 1 and len(next(iter(owners))) == 20  # the same 20 customers each time
    for phone in phones:
        traits = (await client.get(f"/v1/profiles/{phone}")).json()["traits"]
        assert traits["event_count"] == 8


async def test_one_bad_request_does_not_fail_its_neighbours(client: httpx.AsyncClient) -> None:
    good = [
        {"batch": [event("product_viewed", {"email": f"n{n}@example.com"}, product_id="p")]}
        for n in range(5)
    ]
    # Valid in shape, but names a customer id that does not exist: found only while writing.
    bad = {
        "batch": [
            event("product_viewed", {"email": "x@example.com"}, product_id="p"),
            event("product_viewed", {"customer_id": "cus_ghost"}, product_id="p"),
        ]
    }
    responses = await asyncio.gather(
        *(client.post("/v1/events", json=body) for body in [*good[:2], bad, *good[2:]])
    )
    assert [r.status_code for r in responses] == [200, 200, 422, 200, 200, 200]
    assert responses[2].json()["errors"] == [
        {
            "index": 1,
            "event_id": bad["batch"][1]["event_id"],
            "field": "customer.customer_id",
            "message": "unknown customer_id 'cus_ghost'",
        }
    ]
    assert (await client.get("/v1/profiles/email:x@example.com")).status_code == 404
    for n in range(5):
        assert (await client.get(f"/v1/profiles/email:n{n}@example.com")).status_code == 200


async def test_same_event_in_two_concurrent_requests_is_stored_once(
    client: httpx.AsyncClient,
) -> None:
    body = event(
        "order_completed",
        {"phone": "+15550009999"},
        order_id="o",
        total=5.0,
        currency="USD",
        items=[{"product_id": "p", "quantity": 1, "price": 5.0}],
    )
    responses = await asyncio.gather(*(client.post("/v1/events", json=body) for _ in range(6)))
    assert sorted(r.json()["accepted"] for r in responses) == [0, 0, 0, 0, 0, 1]
    traits = (await client.get("/v1/profiles/+15550009999")).json()["traits"]
    assert traits["frequency"] == 1
