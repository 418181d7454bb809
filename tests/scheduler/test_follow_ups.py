"""Follow-ups the shopper asked the agent for, from the request to the send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy.watches import FollowUpKind, ProductState, fire_watches
from profile_store.clock import ShiftedClock
from profile_store.database import transaction
from profile_store.identity import resolve_identity
from profile_store.models import Channel
from profile_store.schemas import CustomerRef
from tests.scheduler.conftest import Shop
from tools.agent_tools.follow_ups import FollowUpRequest, FollowUpStatus, schedule_follow_up
from tools.agent_tools.shopper import Shopper, ToolServices

# Thursday 2026-11-05 15:00 UTC = 10:00 in New York.
T0 = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _story_starts_at_t0(test_clock: ShiftedClock) -> None:
    test_clock.set(T0)


async def shopper(shop: Shop) -> tuple[Shopper, ToolServices]:
    async with transaction(shop.container.sessions) as session:
        customer = await resolve_identity(
            session, CustomerRef(phone="+12125550100", telegram_id="5001"), reason="test"
        )
    services = ToolServices(
        shop.container.readers, None, lambda: shop.container.guardrails, shop.container.sessions
    )
    return Shopper(customer_id=customer.id, channel=Channel.TELEGRAM), services


async def test_a_reminder_needs_no_marketing_consent_and_comes_where_it_was_asked(
    shop: Shop,
) -> None:
    who, services = await shopper(shop)
    request = FollowUpRequest(
        kind=FollowUpKind.REMINDER, when=T0 + timedelta(days=1), note="the Ridge boots"
    )
    answer = await schedule_follow_up(services, who, request, T0)
    assert answer.status is FollowUpStatus.SCHEDULED
    await shop.run(T0 + timedelta(hours=23))
    assert shop.outbox.sent == []
    await shop.run(T0 + timedelta(days=1, minutes=1))
    (sent,) = shop.outbox.sent
    assert sent.channel is Channel.TELEGRAM  # asked on Telegram, though SMS is reachable too
    assert sent.text == "Here is the reminder you asked for. the Ridge boots"
    decisions = await shop.decisions("+12125550100")
    assert [d["action"] for d in decisions] == ["schedule_follow_up", "send_message"]
    assert decisions[1]["verdict"] == "scheduled"


async def test_a_back_in_stock_watch_fires_only_for_the_size_asked(stocked: Shop) -> None:
    shop = stocked
    who, services = await shopper(shop)
    request = FollowUpRequest(kind=FollowUpKind.BACK_IN_STOCK, product_ids=["boot-1"], size="42")
    assert (await schedule_follow_up(services, who, request, T0)).status is FollowUpStatus.WATCHING

    async def catalog_change(sizes: set[str], at: datetime) -> int:
        state = ProductState(
            product_id="boot-1", price=120, in_stock=bool(sizes), sizes_in_stock=frozenset(sizes)
        )
        async with transaction(shop.container.sessions) as session:
            return await fire_watches(session, [state], at)

    assert await catalog_change({"43"}, T0 + timedelta(days=1)) == 0
    await shop.run(T0 + timedelta(days=1))
    assert shop.outbox.sent == []
    assert await catalog_change({"42", "43"}, T0 + timedelta(days=2)) == 1
    assert await catalog_change({"42"}, T0 + timedelta(days=2)) == 0  # fires once
    await shop.run(T0 + timedelta(days=2, minutes=1))
    (sent,) = shop.outbox.sent
    assert sent.text == "Good news: Ridge Hiking Boot in 42 is back in stock."
    (card,) = sent.cards
    assert (card.id, card.variant, card.name) == ("boot-1", "42", "Ridge Hiking Boot")


async def test_requests_the_policy_cannot_take_are_refused_with_a_reason(shop: Shop) -> None:
    who, services = await shopper(shop)
    cases = {
        "a reminder needs a time": FollowUpRequest(kind=FollowUpKind.REMINDER),
        "the reminder time is in the past": FollowUpRequest(
            kind=FollowUpKind.REMINDER, when=T0 - timedelta(hours=1)
        ),
        "reminders can be at most 90 days ahead": FollowUpRequest(
            kind=FollowUpKind.REMINDER, when=T0 + timedelta(days=200)
        ),
        "a price alert needs the price to wait for": FollowUpRequest(
            kind=FollowUpKind.PRICE_DROP, product_ids=["boot-1"]
        ),
        "back_in_stock needs the product to watch": FollowUpRequest(
            kind=FollowUpKind.BACK_IN_STOCK
        ),
    }
    for reason, request in cases.items():
        answer = await schedule_follow_up(services, who, request, T0)
        assert (answer.status, answer.reason) == (FollowUpStatus.REFUSED, reason)


async def test_a_watch_past_its_expiry_closes_without_a_message(shop: Shop) -> None:
    who, services = await shopper(shop)
    request = FollowUpRequest(kind=FollowUpKind.PRICE_DROP, product_ids=["boot-1"], below_price=60)
    await schedule_follow_up(services, who, request, T0)
    cheap = ProductState(product_id="boot-1", price=55, in_stock=True)
    async with transaction(shop.container.sessions) as session:
        assert await fire_watches(session, [cheap], T0 + timedelta(days=91)) == 0
    await shop.run(T0 + timedelta(days=91))
    assert shop.outbox.sent == []
