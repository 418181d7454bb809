"""The promises, end to end through the events API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from app.settings import Settings
from profile_store.clock import ShiftedClock
from profile_store.models import ScheduledSend
from scheduler.store import cancel
from tests.profile_store.events import event
from tests.scheduler.conftest import RecordingDispatcher, Shop, running_shop

# Tuesday 2026-11-03 14:00 UTC = 09:00 in New York (EST).
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _story_starts_at_t0(test_clock: ShiftedClock) -> None:
    test_clock.set(T0)


def at(t: datetime) -> str:
    return t.isoformat()


def ev(type_: str, who: dict[str, Any], t: datetime, **props: Any) -> dict[str, Any]:
    body = event(type_, who)
    body.update(occurred_at=at(t), properties=props)
    return body


def opted_in(who: dict[str, Any], t: datetime, *channels: str) -> list[dict[str, Any]]:
    return [
        ev("consent_changed", who, t, channel=c, purpose="marketing", status="granted")
        for c in channels
    ]


ANN = {"phone": "+12125550100", "telegram_id": "5001"}  # New York by area code


async def test_the_coat_bought_on_tuesday(stocked: Shop) -> None:
    shop = stocked
    await shop.post(
        *opted_in(ANN, T0, "sms", "whatsapp", "telegram"),
        ev("added_to_cart", ANN, T0, product_id="coat", price=199.0, currency="USD"),
        ev(
            "order_completed",
            ANN,
            T0 + timedelta(minutes=10),
            order_id="o-1",
            total=199.0,
            currency="USD",
            items=[{"product_id": "coat", "quantity": 1, "price": 199.0}],
        ),
    )
    await shop.run(T0 + timedelta(hours=2))
    assert shop.outbox.sent == []  # the cart reminder died with the order
    assert await shop.decisions("+12125550100") == []

    # A price drop on the coat a week later: suppressed on every channel.
    await shop.post(ev("product_viewed", ANN, T0 + timedelta(days=7), product_id="coat"))
    await shop.run(T0 + timedelta(days=7, hours=3))
    browse = [d for d in await shop.decisions("+12125550100") if d["program"] == "browse_abandoned"]
    assert browse[0]["verdict"] == "suppressed"
    assert {(r.get("channel"), r["code"]) for r in browse[0]["reasons"]} == {
        (None, "nothing_to_show"),
        ("sms", "recently_purchased"),
        ("telegram", "recently_purchased"),
        ("whatsapp", "recently_purchased"),
        ("whatsapp", "whatsapp_outside_window"),
    }

    # Post-purchase care after the order, never promoting the coat itself, at the customer's
    # usual hour (they shop around 14:00 UTC).
    await shop.run(T0 + timedelta(days=9))
    post = [d for d in await shop.decisions("+12125550100") if d["program"] == "post_purchase"]
    assert post[0]["verdict"] == "scheduled"
    assert post[0]["details"]["trigger_product_ids"] == ["coat"]
    # Complements from the catalog (the coat's brand, similar things), never the coat itself.
    complements = post[0]["product_ids"]
    assert 2 <= len(complements) <= 3 and "coat" not in complements
    assert set(complements) <= {"scarf", "gloves", "beanie"}  # the coat's brand, not coats
    sent = [s for s in shop.outbox.sent if s.program == "post_purchase"]
    assert len(sent) == 1
    assert [card.id for card in sent[0].cards] == complements
    assert all("Storm Coat" not in card.name for card in sent[0].cards)
    assert "Storm Coat" not in sent[0].text


async def test_converted_at_nine_no_cart_message_at_eleven(shop: Shop) -> None:
    who = {"phone": "+12125550101"}
    await shop.post(
        *opted_in(who, T0 - timedelta(days=1), "sms"),
        # 08:20 in New York: the reminder is decided at 08:50, inside quiet hours until 09:00.
        ev("added_to_cart", who, T0 - timedelta(minutes=40), product_id="boots", price=90.0),
    )
    await shop.run(T0 - timedelta(minutes=5))
    [reminder] = await shop.decisions("+12125550101")
    assert reminder["verdict"] == "scheduled"
    assert reminder["send_at"].startswith("2026-11-03T14:00")  # 09:00 local, after quiet hours

    await shop.post(
        ev(
            "order_completed",
            who,
            T0 - timedelta(minutes=1),
            order_id="o-9",
            total=90.0,
            currency="USD",
            items=[{"product_id": "boots", "quantity": 1, "price": 90.0}],
        )
    )
    await shop.run(T0 + timedelta(hours=2))
    assert shop.outbox.sent == []
    [reminder] = await shop.decisions("+12125550101")
    assert reminder["outcome"] == "cancelled"
    assert reminder["outcome_reasons"][0]["detail"] == "purchased"


async def test_caps_hold_across_channels(shop: Shop) -> None:
    who = {"phone": "+12125550102", "telegram_id": "5002"}
    await shop.post(*opted_in(who, T0 - timedelta(days=30), "sms", "whatsapp", "telegram"))
    day = T0
    for n in range(5):
        # A new cart each day, abandoned; 3 marketing messages per 7 days in all.
        await shop.post(ev("added_to_cart", who, day, product_id=f"item-{n}", price=10.0))
        await shop.run(day + timedelta(hours=1))
        day += timedelta(days=1)
    assert len(shop.outbox.sent) == 3
    assert len({s.channel for s in shop.outbox.sent}) >= 1
    decisions = [
        d for d in await shop.decisions("+12125550102") if d["program"] == "cart_abandoned"
    ]
    # The 4th and 5th are deferred until the 7-day window frees a slot, not sent.
    waiting = [d for d in decisions if d["outcome"] is None]
    assert len(waiting) == 2
    assert all(
        any(r["code"] == "frequency_cap" for r in d["outcome_reasons"] + d["reasons"])
        for d in waiting
    )


async def test_quiet_hours_in_three_timezones(shop: Shop) -> None:
    people = {
        "+12125550110": "America/New_York",  # 21:30 local: quiet
        "+4930123456": "Europe/Berlin",  # 03:30 local: quiet
        "+81312345678": "Asia/Tokyo",  # 11:30 local: fine
    }
    t = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
    for phone, zone in people.items():
        who = {"phone": phone}
        await shop.post(
            *opted_in(who, t - timedelta(days=1), "sms"),
            ev("identify", who, t - timedelta(days=1), timezone=zone),
            ev("added_to_cart", who, t, product_id="lamp", price=30.0),
        )
    await shop.run(t + timedelta(minutes=31))
    send_at = {phone: (await shop.decisions(phone))[0]["send_at"][:16] for phone in people}
    assert send_at == {
        "+12125550110": "2026-11-18T14:00",  # 09:00 New York
        "+4930123456": "2026-11-18T08:00",  # 09:00 Berlin
        "+81312345678": "2026-11-18T02:31",  # right away in Tokyo
    }
    await shop.run(t + timedelta(hours=1))
    assert [s.address for s in shop.outbox.sent] == ["+81312345678"]
    await shop.run(t + timedelta(hours=13))
    assert sorted(s.address for s in shop.outbox.sent) == sorted(people)


async def test_holdout_is_logged_never_sent(shop: Shop) -> None:
    rules = shop.container.guardrails
    everyone_held = rules.model_copy(
        update={
            "programs": {
                **rules.programs,
                "cart_abandoned": rules.program("cart_abandoned").model_copy(
                    update={"holdout_percent": 100}
                ),
            }
        }
    )
    shop.container.guardrails = everyone_held
    who = {"phone": "+12125550120"}
    await shop.post(
        *opted_in(who, T0 - timedelta(days=1), "sms"),
        ev("added_to_cart", who, T0, product_id="hat", price=20.0),
    )
    await shop.run(T0 + timedelta(hours=3))
    [decision] = await shop.decisions("+12125550120")
    assert decision["verdict"] == "held_out" and decision["held_out"] is True
    assert decision["reasons"][0]["code"] == "holdout"
    assert shop.outbox.sent == []
    # A later purchase still counts as the held-out decision's conversion (for lift).
    await shop.post(
        ev(
            "order_completed",
            who,
            T0 + timedelta(hours=5),
            order_id="o-h",
            total=20.0,
            currency="USD",
            items=[{"product_id": "hat", "quantity": 1, "price": 20.0}],
        )
    )
    [decision] = await shop.decisions("+12125550120")
    assert decision["outcome"] == "converted"


async def test_timeline_explains_what_happened(shop: Shop) -> None:
    who = {"phone": "+12125550130"}
    await shop.post(
        *opted_in(who, T0 - timedelta(days=1), "sms"),
        ev("added_to_cart", who, T0, product_id="mug", price=12.0),
    )
    await shop.run(T0 + timedelta(hours=1))
    response = await shop.client.get("/v1/customers/+12125550130/timeline")
    kinds = [entry["kind"] for entry in response.json()]
    assert {"event", "decision", "send"} <= set(kinds)
    summaries = " | ".join(entry["summary"] for entry in response.json())
    assert "cart_abandoned: scheduled on sms" in summaries and "sms send sent" in summaries
    assert (
        await shop.client.get("/v1/decisions", params={"customer": "+19999999999"})
    ).status_code == 404


async def test_restart_mid_schedule_loses_nothing_and_sends_once(settings: Settings) -> None:
    who = {"phone": "+12125550140"}
    first = RecordingDispatcher()
    async with running_shop(settings, first) as shop:
        await shop.post(
            *opted_in(who, T0 - timedelta(days=1), "sms"),
            ev("added_to_cart", who, T0, product_id="scarf", price=25.0),
        )
        await shop.container.scheduler.fire_due_timers(T0 + timedelta(minutes=31))
        # The process dies after deciding, before the send is due.
    second = RecordingDispatcher()
    async with running_shop(settings, second) as shop:
        await shop.run(T0 + timedelta(hours=1))
        await shop.run(T0 + timedelta(hours=2))
        [decision] = await shop.decisions("+12125550140")
    assert first.sent == []
    assert [s.address for s in second.sent] == ["+12125550140"]
    assert decision["outcome"] == "sent"


async def test_a_send_whose_worker_died_is_retried_after_its_lease(settings: Settings) -> None:
    who = {"phone": "+12125550141"}
    outbox = RecordingDispatcher()
    async with running_shop(settings, outbox) as shop:
        await shop.post(
            *opted_in(who, T0 - timedelta(days=1), "sms"),
            ev("added_to_cart", who, T0, product_id="belt", price=25.0),
        )
        await shop.container.scheduler.fire_due_timers(T0 + timedelta(minutes=31))
        async with shop.container.sessions() as session, session.begin():
            # Claimed by a worker that then crashed: status 'sending', lease still running.
            await session.exec(
                update(ScheduledSend).values(
                    status="sending", lease_until=T0 + timedelta(minutes=40)
                )
            )
        await shop.run(T0 + timedelta(minutes=35))
        assert outbox.sent == []  # the lease is still held
        await shop.run(T0 + timedelta(minutes=41))
        await shop.run(T0 + timedelta(minutes=50))
        assert len(outbox.sent) == 1


async def test_a_pending_send_can_be_cancelled_once(shop: Shop) -> None:
    who = {"phone": "+12125550150"}
    await shop.post(
        *opted_in(who, T0 - timedelta(days=1), "sms"),
        ev("added_to_cart", who, T0 + timedelta(hours=10), product_id="cap", price=9.0),
    )
    # Decided at 19:31 local; the send waits for tomorrow's usual hour.
    await shop.container.scheduler.fire_due_timers(T0 + timedelta(hours=10, minutes=31))
    async with shop.container.sessions() as session, session.begin():
        send_id = (await session.exec(select(ScheduledSend.id))).one()
        assert await cancel(session, send_id, "marketer stopped it")
        assert not await cancel(session, send_id, "twice")
    await shop.run(T0 + timedelta(days=2))
    assert shop.outbox.sent == []
    [decision] = await shop.decisions("+12125550150")
    assert decision["outcome"] == "cancelled"
    assert decision["outcome_reasons"][0]["detail"] == "marketer stopped it"
