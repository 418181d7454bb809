"""Identity resolution: one person across channels, merges that lose nothing, conflicts kept."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.identity import resolve_identity
from profile_store.models import Customer, ProfileMerge
from profile_store.schemas import CustomerRef
from tests.profile_store.events import event


def ref(**fields: str) -> CustomerRef:
    return CustomerRef.model_validate(fields, context={"default_region": "US"})


async def test_sms_and_whatsapp_from_one_number_are_one_customer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        sms = await resolve_identity(session, ref(phone="+1 (555) 123-4567"), reason="sms")
    async with sessions() as session, session.begin():
        whatsapp = await resolve_identity(
            session, ref(phone="whatsapp:+15551234567"), reason="whatsapp"
        )
    assert sms.id == whatsapp.id


async def test_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/events", json=event("product_viewed", {"email": "Ann@Example.COM "}, product_id="p")
    )
    await client.post(
        "/v1/events", json=event("product_viewed", {"email": "ann@example.com"}, product_id="q")
    )
    profile = (await client.get("/v1/profiles/ANN@example.com")).json()
    assert profile["traits"]["event_count"] == 2


async def test_telegram_user_stays_separate_until_linked(client: httpx.AsyncClient) -> None:
    tg = {"telegram_id": 424242}
    await client.post(
        "/v1/events", json=event("product_viewed", tg, 0, product_id="coat", category="Coats")
    )
    await client.post(
        "/v1/events", json=event("product_viewed", {"phone": "+15551234567"}, 1, product_id="hat")
    )
    telegram_profile = (await client.get("/v1/profiles/telegram_id:424242")).json()
    phone_profile = (await client.get("/v1/profiles/+15551234567")).json()
    assert telegram_profile["customer_id"] != phone_profile["customer_id"]

    link = event(
        "identify", {"telegram_id": "424242", "phone": "+15551234567"}, 2, first_name="Ann"
    )
    assert (await client.post("/v1/events", json=link)).status_code == 200

    merged = (await client.get("/v1/profiles/telegram_id:424242")).json()
    assert merged["customer_id"] == phone_profile["customer_id"]  # phone outranks telegram
    assert {(i["kind"], i["value"]) for i in merged["identities"]} == {
        ("phone", "+15551234567"),
        ("telegram_id", "424242"),
    }
    assert merged["traits"]["event_count"] == 3
    assert {e["type"] for e in merged["recent_events"]} == {"product_viewed", "identify"}
    assert merged["first_name"] == "Ann"
    assert merged["merged_from"][0]["source_customer_id"] == telegram_profile["customer_id"]
    # The merged-away id still answers, with the surviving profile.
    old = (await client.get(f"/v1/profiles/{telegram_profile['customer_id']}")).json()
    assert old["customer_id"] == merged["customer_id"]


async def test_anonymous_visitor_merges_into_known_profile_losing_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    anon = {"anonymous_id": "visitor-7"}
    known = {"email": "bo@example.com"}
    await client.post(
        "/v1/events",
        json={
            "batch": [
                event("product_viewed", anon, 0, product_id="boot", category="Shoes"),
                event("added_to_cart", anon, 1, product_id="boot", price=80.0, currency="USD"),
                event(
                    "consent_changed",
                    anon,
                    2,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                ),
                event(
                    "order_completed",
                    known,
                    3,
                    order_id="o-1",
                    total=20.0,
                    currency="USD",
                    items=[{"product_id": "sock", "quantity": 2, "price": 10.0}],
                ),
            ]
        },
    )
    anon_id = (await client.get("/v1/profiles/anonymous_id:visitor-7")).json()["customer_id"]

    await client.post("/v1/events", json=event("identify", {**anon, **known}, 4))

    profile = (await client.get("/v1/profiles/email:bo@example.com")).json()
    assert profile["customer_id"] != anon_id
    traits = profile["traits"]
    assert traits["event_count"] == 5
    assert [i["product_id"] for i in traits["open_cart"]["items"]] == ["boot"]
    assert traits["frequency"] == 1
    assert traits["category_affinity"] == {"Shoes": 1.0}
    assert [(c["channel"], c["status"]) for c in profile["consents"]] == [("email", "granted")]
    assert {i["kind"] for i in profile["identities"]} == {"anonymous_id", "email"}
    async with sessions() as session:
        merge = (await session.exec(select(ProfileMerge))).one()
        assert (merge.source_customer_id, merge.target_customer_id) == (
            anon_id,
            profile["customer_id"],
        )
        assert merge.moved["events"] == 3
        assert merge.moved["consents"] == 1
        ghost = await session.get(Customer, anon_id)
        assert ghost is not None and ghost.merged_into_id == profile["customer_id"]


async def test_profiles_with_different_emails_are_not_merged(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/events", json=event("product_viewed", {"email": "a@example.com"}, 0, product_id="p")
    )
    await client.post(
        "/v1/events", json=event("product_viewed", {"email": "b@example.com"}, 1, product_id="q")
    )
    both = event("identify", {"email": "a@example.com", "phone": "+15550001111"}, 2)
    await client.post("/v1/events", json=both)
    clash = event("identify", {"email": "b@example.com", "phone": "+15550001111"}, 3)
    assert (await client.post("/v1/events", json=clash)).status_code == 200

    a = (await client.get("/v1/profiles/email:a@example.com")).json()
    b = (await client.get("/v1/profiles/email:b@example.com")).json()
    assert a["customer_id"] != b["customer_id"]
    assert a["traits"]["event_count"] + b["traits"]["event_count"] == 4
    assert [c["status"] for c in a["conflicts"]] == ["open"]
    assert a["conflicts"][0]["other_customer_id"] == b["customer_id"]
    assert a["conflicts"][0]["kind"] == "email"
    # Replaying the clash does not pile up duplicate conflicts.
    await client.post(
        "/v1/events", json=event("identify", {"email": "b@example.com", "phone": "+15550001111"}, 5)
    )
    assert len((await client.get("/v1/profiles/email:b@example.com")).json()["conflicts"]) == 1


async def test_chain_of_merges_resolves_to_the_survivor(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/events", json=event("product_viewed", {"anonymous_id": "a1"}, 0, product_id="p")
    )
    first = (await client.get("/v1/profiles/anonymous_id:a1")).json()["customer_id"]
    await client.post(
        "/v1/events", json=event("identify", {"anonymous_id": "a1", "telegram_id": "7"}, 1)
    )
    await client.post(
        "/v1/events", json=event("product_viewed", {"external_id": "shop-1"}, 2, product_id="q")
    )
    await client.post(
        "/v1/events", json=event("identify", {"telegram_id": "7", "external_id": "shop-1"}, 3)
    )
    survivor = (await client.get("/v1/profiles/external_id:shop-1")).json()
    assert (await client.get(f"/v1/profiles/{first}")).json()["customer_id"] == survivor[
        "customer_id"
    ]
    assert survivor["traits"]["event_count"] == 4
