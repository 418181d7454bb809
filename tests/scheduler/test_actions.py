"""One action from decision to send: what the policy allowed when it decided is judged by the
same rules, on the same action, when the send is due. One test per program, through the events
API and the agent's follow-up tool, both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import scheduler.sender
from policy.action_choice import ProgramEvidence, evidence_key
from policy.eligibility import Action, Verdict, evaluate
from policy.watches import FollowUpKind, ProductState, fire_watches
from profile_store.clock import ShiftedClock
from profile_store.database import transaction
from profile_store.models import Channel
from scheduler.embedded import SENDS
from tests.scheduler.conftest import Shop
from tests.scheduler.test_follow_ups import shopper
from tests.scheduler.test_stories import ANN, ev, opted_in
from tools.agent_tools.follow_ups import FollowUpRequest, schedule_follow_up

T0 = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
PHONE = ANN["phone"]


@pytest.fixture(autouse=True)
def _story_starts_at_t0(test_clock: ShiftedClock) -> None:
    test_clock.set(T0)


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[Action]:
    """The actions the scheduler evaluates at send time."""
    seen: list[Action] = []
    real: Callable[..., Verdict] = evaluate

    def spy(ctx: Any, action: Action, *args: Any) -> Verdict:
        seen.append(action)
        return real(ctx, action, *args)

    monkeypatch.setattr(scheduler.sender, "evaluate", spy)
    return seen


def order(t: datetime, product_id: str, order_id: str = "o-1") -> dict[str, Any]:
    return ev(
        "order_completed",
        ANN,
        t,
        order_id=order_id,
        total=100.0,
        currency="USD",
        items=[{"product_id": product_id, "quantity": 1, "price": 100.0}],
    )


async def a_cart(shop: Shop) -> datetime:
    await shop.post(ev("added_to_cart", ANN, T0, product_id="boot-1", price=120.0, currency="USD"))
    return T0 + timedelta(minutes=31)


async def a_view(shop: Shop) -> datetime:
    await shop.post(ev("product_viewed", ANN, T0, product_id="boot-1"))
    return T0 + timedelta(hours=2, minutes=1)


async def an_order(shop: Shop) -> datetime:
    await shop.post(order(T0, "boot-1"))
    return T0 + timedelta(days=3, hours=1)


async def a_long_silence(shop: Shop) -> datetime:
    # The last sign of life was 60 days ago (sent now, as a backfill would: it arms nothing
    # itself, but the win-back sweep finds the silence).
    await shop.post(ev("product_viewed", ANN, T0 - timedelta(days=60, hours=1), product_id="x"))
    return T0 + timedelta(minutes=1)


async def a_reminder(shop: Shop) -> datetime:
    who, services = await shopper(shop)
    request = FollowUpRequest(kind=FollowUpKind.REMINDER, when=T0 + timedelta(days=1))
    await schedule_follow_up(
        services, who, request.model_copy(update={"product_ids": ["boot-1"]}), T0
    )
    return T0 + timedelta(days=1, minutes=1)


def a_watch(kind: FollowUpKind, state: ProductState) -> Callable[[Shop], Any]:
    async def arm(shop: Shop) -> datetime:
        who, services = await shopper(shop)
        request = FollowUpRequest(
            kind=kind,
            product_ids=["boot-1"],
            below_price=100 if kind is FollowUpKind.PRICE_DROP else None,
        )
        await schedule_follow_up(services, who, request, T0)
        async with transaction(shop.container.sessions) as session:
            assert await fire_watches(session, [state], T0 + timedelta(hours=1)) == 1
        return T0 + timedelta(hours=1, minutes=1)

    return arm


PROGRAMS: dict[str, Callable[[Shop], Any]] = {
    "cart_abandoned": a_cart,
    "browse_abandoned": a_view,
    "post_purchase": an_order,
    "win_back": a_long_silence,
    "reminder": a_reminder,
    "back_in_stock": a_watch(
        FollowUpKind.BACK_IN_STOCK, ProductState(product_id="boot-1", price=120, in_stock=True)
    ),
    "price_drop": a_watch(
        FollowUpKind.PRICE_DROP, ProductState(product_id="boot-1", price=90, in_stock=True)
    ),
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
async def test_the_action_decided_is_the_action_evaluated_at_send_time(
    stocked: Shop, evaluated: list[Action], program: str
) -> None:
    shop = stocked
    # For win-back, consent given long ago: a consent is a sign of life too.
    consented = T0 - timedelta(days=62 if program == "win_back" else 1)
    await shop.post(*opted_in(ANN, consented, "telegram"))
    due = await PROGRAMS[program](shop)
    await shop.run(due)
    # Either way of sending: before any data the discount is tried as often as it is not.
    sending = {"send_message", "send_message_with_discount"}
    decision = next(d for d in await shop.decisions(PHONE) if d["action"] in sending)
    await shop.run(datetime.fromisoformat(decision["details"]["send_time"]["send_at"]))
    assert (decision["program"], decision["verdict"]) == (program, "scheduled")
    decided = Action.model_validate(decision["details"]["action"])
    async with shop.container.sessions() as session:
        conn = await session.connection()
        send = (await conn.execute(select(SENDS).where(SENDS.c.program == program))).one()
    assert Action.model_validate(send.action) == decided
    assert evaluated == [decided]
    assert send.status == "sent"
    assert [s.channel for s in shop.outbox.sent] == [Channel.TELEGRAM]


async def test_a_reminder_asked_for_still_comes_after_the_product_is_bought(
    shop: Shop, evaluated: list[Action]
) -> None:
    due = await a_reminder(shop)
    await shop.post(order(T0 + timedelta(hours=2), "boot-1"))
    await shop.run(due)
    assert len(shop.outbox.sent) == 1  # a service message the shopper wanted, not a promotion
    assert evaluated[0].promotion is False


async def test_a_second_reminder_about_the_same_product_is_judged_as_a_repeat(
    stocked: Shop,
) -> None:
    """A view then a cart of the same boot: the browse reminder two hours after the cart
    reminder is a repeat, valued on what repeats were measured to add; where they were shown
    not to pay (fewer bought after one than without), it is not sent."""
    shop = stocked
    await shop.post(*opted_in(ANN, T0 - timedelta(days=1), "telegram"))
    await shop.post(
        ev("product_viewed", ANN, T0, product_id="boot-1"),
        ev("added_to_cart", ANN, T0, product_id="boot-1", price=120.0, currency="USD"),
    )
    shop.container.scheduler._evidence = {
        evidence_key("browse_abandoned", repeat=True): ProgramEvidence(
            treated=20000,
            treated_converted=800,
            discounted=20000,
            discounted_converted=800,
            held_out=4000,
            held_out_converted=200,
        )
    }
    shop.container.scheduler._priors_at = T0 + timedelta(days=30)  # keep that evidence
    for hours in (1, 3, 15):
        await shop.run(T0 + timedelta(hours=hours))
    decisions = {d["program"]: d for d in await shop.decisions(PHONE)}
    first = decisions["cart_abandoned"]
    assert (first["verdict"], first["repeat"]) == ("scheduled", False)
    browse = decisions["browse_abandoned"]
    assert browse["repeat"] is True
    assert browse["details"]["repeats"]["program"] == "cart_abandoned"
    assert (browse["verdict"], browse["action"]) == ("skipped", "do_nothing")
    assert [s.program for s in shop.outbox.sent] == ["cart_abandoned"]


async def test_a_held_out_cart_reminder_holds_out_the_browse_reminder_after_it(
    stocked: Shop,
) -> None:
    """Held out of the cart reminder, the shopper gets no browse reminder about the same boot
    two hours later either: else the cart program's holdout would measure that reminder, not
    what doing nothing does. A boot they did not cart is still reminded of."""
    shop = stocked
    rules = shop.container.guardrails
    cart = rules.program("cart_abandoned").model_copy(update={"holdout_percent": 100})
    browse = rules.program("browse_abandoned").model_copy(update={"holdout_percent": 0})
    shop.container.guardrails = rules.model_copy(
        update={"programs": {**rules.programs, "cart_abandoned": cart, "browse_abandoned": browse}}
    )
    await shop.post(*opted_in(ANN, T0 - timedelta(days=1), "telegram"))
    await shop.post(
        ev("product_viewed", ANN, T0, product_id="boot-1"),
        ev("added_to_cart", ANN, T0, product_id="boot-1", price=120.0, currency="USD"),
    )
    for hours in (1, 3, 15):
        await shop.run(T0 + timedelta(hours=hours))
    decisions = {d["program"]: d for d in await shop.decisions(PHONE)}
    assert decisions["cart_abandoned"]["verdict"] == "held_out"
    browse_decision = decisions["browse_abandoned"]
    assert (browse_decision["verdict"], browse_decision["held_out"]) == ("skipped", False)
    (reason,) = browse_decision["reasons"]
    assert reason["code"] == "episode_held_out" and "cart_abandoned" in reason["detail"]
    assert shop.outbox.sent == []

    later = T0 + timedelta(days=1)
    await shop.post(ev("product_viewed", ANN, later, product_id="boot-2"))
    for hours in (3, 15, 40, 72):  # whatever hour the scheduler picked
        await shop.run(later + timedelta(hours=hours))
    assert [s.program for s in shop.outbox.sent] == ["browse_abandoned"]


async def test_a_cart_reminder_still_follows_a_browse_reminder(stocked: Shop) -> None:
    shop = stocked
    await shop.post(*opted_in(ANN, T0 - timedelta(days=1), "telegram"))
    await shop.post(ev("product_viewed", ANN, T0, product_id="boot-1"))
    await shop.run(T0 + timedelta(hours=2, minutes=1))
    await shop.run(T0 + timedelta(hours=14))
    later = T0 + timedelta(days=1)
    await shop.post(
        ev("added_to_cart", ANN, later, product_id="boot-1", price=120.0, currency="USD")
    )
    await shop.run(later + timedelta(minutes=31))
    await shop.run(later + timedelta(hours=12))
    assert [s.program for s in shop.outbox.sent] == ["browse_abandoned", "cart_abandoned"]
