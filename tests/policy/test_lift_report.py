"""The lift report: the interval arithmetic by hand, then a small story on both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.lift_report import (
    GroupStats,
    MessageCounts,
    difference_interval,
    lift,
    lift_report,
)
from profile_store.models import Customer, Decision, Event

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=10)
_ids = itertools.count(1)


def test_difference_interval_matches_a_hand_computed_wald_interval() -> None:
    # 60/200 = 0.30 treated, 40/200 = 0.20 holdout: difference 0.10;
    # se = sqrt(0.3 * 0.7 / 200 + 0.2 * 0.8 / 200) = sqrt(0.00185) = 0.0430116;
    # 1.959964 * 0.0430116 = 0.0843012, so the interval is 0.10 ± 0.0843012.
    interval = difference_interval(60, 200, 40, 200)
    assert interval is not None
    assert interval.lower == pytest.approx(0.0156988, abs=1e-6)
    assert interval.upper == pytest.approx(0.1843012, abs=1e-6)
    assert interval.level == 0.95


def test_difference_interval_needs_both_groups_and_sane_counts() -> None:
    assert difference_interval(3, 4, 0, 0) is None
    assert difference_interval(0, 0, 1, 4) is None
    with pytest.raises(ValueError):
        difference_interval(5, 4, 1, 4)


def test_lift_is_significant_only_when_the_interval_leaves_out_zero() -> None:
    def group(conversions: int, customers: int) -> GroupStats:
        return GroupStats(
            customers=customers,
            conversions=conversions,
            conversion_rate=conversions / customers,
            revenue=0.0,
            revenue_per_recipient=0.0,
        )

    clear = lift(group(60, 200), group(40, 200))
    assert clear.absolute == pytest.approx(0.10)
    assert clear.relative == pytest.approx(0.5)
    assert clear.significant
    # No holdout conversions: the relative lift is undefined, the absolute one is not.
    none_converted = lift(group(2, 4), group(0, 4))
    assert none_converted.absolute == pytest.approx(0.5)
    assert none_converted.relative is None


def day(days: float) -> datetime:
    return SINCE + timedelta(days=days)


def decision(
    customer: str,
    days: float,
    *,
    program: str = "cart_abandoned",
    verdict: str = "scheduled",
    outcome: str | None = "sent",
    held_out: bool = False,
    reasons: list[dict[str, Any]] | None = None,
    outcome_reasons: list[dict[str, Any]] | None = None,
    trigger: str | None = None,
    action: str = "send_message",
) -> dict[str, Any]:
    return {
        "id": f"dec_{next(_ids)}",
        "customer_id": customer,
        "trigger": trigger or program,
        "program": program,
        "action": action,
        "channel": "sms",
        "send_at": None,
        "product_ids": [],
        "verdict": verdict,
        "reasons": reasons or [],
        "held_out": held_out,
        "details": {},
        "outcome": outcome,
        "outcome_reasons": outcome_reasons or [],
        "outcome_at": None,
        "created_at": day(days),
    }


def held(customer: str, days: float, outcome: str = "held_out") -> dict[str, Any]:
    return decision(
        customer,
        days,
        verdict="held_out",
        outcome=outcome,
        held_out=True,
        reasons=[{"code": "holdout", "blocking": True, "detail": "in the holdout"}],
    )


def block(code: str, *, blocking: bool = True, channel: str = "sms") -> dict[str, Any]:
    return {"code": code, "blocking": blocking, "detail": code, "channel": channel}


def order(customer: str, days: float, total: float, order_id: str | None = None) -> dict[str, Any]:
    event_id = f"evt_{next(_ids)}"
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": "order_completed",
        "properties": {
            "order_id": order_id or event_id,
            "total": total,
            "currency": "USD",
            "items": [{"product_id": "coat", "quantity": 1, "price": total}],
        },
        "occurred_at": day(days),
        "received_at": day(days),
    }


DECISION_ROWS = [
    # Treated: four customers sent a cart reminder, three buy within 7 days of the first one.
    decision("cus_t1", 1, outcome="converted"),
    decision("cus_t1", 3),  # a second reminder: still one customer, anchored at day 1
    decision("cus_t2", 1),
    decision("cus_t3", 2, outcome="converted"),
    decision("cus_t4", 2),
    # Holdout: four customers left alone, one buys within the window.
    held("cus_h1", 1, outcome="converted"),
    held("cus_h2", 1),
    held("cus_h3", 1),
    held("cus_h0", -1),  # before the period: not counted, nor is its order
    held("cus_h0", 0),  # exactly at `since`: counted
    # Suppressed when decided (the same code on two channels counts once).
    decision(
        "cus_s",
        4,
        verdict="suppressed",
        outcome="suppressed",
        reasons=[
            block("frequency_cap"),
            block("frequency_cap", channel="whatsapp"),
            block("quiet_hours", blocking=False),
        ],
    ),
    decision(
        "cus_s",
        5,
        verdict="suppressed",
        outcome="suppressed",
        reasons=[block("frequency_cap"), block("quiet_hours")],
    ),
    # Suppressed at send time: the outcome's reasons count, not the deferral it was decided with.
    decision(
        "cus_s",
        6,
        outcome="suppressed",
        reasons=[block("frequency_cap")],
        outcome_reasons=[block("quiet_hours"), block("recently_purchased", blocking=False)],
    ),
    decision("cus_s", 7, outcome=None),
    decision("cus_s", 7.5, outcome="cancelled"),
    decision("cus_s", 8, outcome="failed"),
    # Another program with no holdout: nothing to compare with.
    decision("cus_t1", 1.5, program="win_back"),
    # Not in the report: a conversation's follow-up, the period's end, the agent's own actions.
    decision("cus_t2", 2, program="back_in_stock", trigger="conversation"),
    decision("cus_t2", 10),
    decision("cus_t2", 3, program="agent_offer", action="offer_discount", outcome="offered"),
]

ORDER_ROWS = [
    order("cus_t1", 2, 100.0, "o-1"),
    order("cus_t1", 2.1, 100.0, "o-1"),  # the same order again under another event id
    order("cus_t2", 0.5, 999.0),  # before the reminder
    order("cus_t2", 7.9, 50.5),  # 6.9 days after the reminder
    order("cus_t3", 2.05, 30.0),
    order("cus_t3", 4, 19.5),
    order("cus_t4", 9.5, 80.0),  # 7.5 days after: too late
    order("cus_h1", 3, 40.0),
    order("cus_h3", 20, 70.0),  # too late
    order("cus_h0", -0.5, 60.0),  # after the excluded decision, before the counted one
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    customers = sorted({row["customer_id"] for row in DECISION_ROWS})
    async with sessions() as session, session.begin():
        conn = await session.connection()
        await conn.execute(
            insert(CUSTOMERS),
            [
                {"id": c, "created_at": day(-30), "updated_at": day(-30)}
                | {"attributes": {}, "field_times": {}}
                for c in customers
            ],
        )
        await conn.execute(insert(DECISIONS), DECISION_ROWS)
        await conn.execute(insert(EVENTS), ORDER_ROWS)


async def test_report_compares_sent_with_held_out_and_counts_suppressions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions)
    async with sessions() as session:
        report = await lift_report(session, since=SINCE, until=UNTIL)

    assert report.attribution_window_days == 7
    assert report.currencies == ["USD"]
    assert [p.program for p in report.programs] == ["cart_abandoned", "win_back"]
    cart, win_back = report.programs

    assert cart.treated.model_dump() == {
        "customers": 4,
        "conversions": 3,
        "conversion_rate": 0.75,
        "revenue": 200.0,  # 100 + 50.50 + (30 + 19.50)
        "revenue_per_recipient": 50.0,
    }
    assert cart.holdout.model_dump() == {
        "customers": 4,
        "conversions": 1,
        "conversion_rate": 0.25,
        "revenue": 40.0,
        "revenue_per_recipient": 10.0,
    }
    assert cart.lift.absolute == pytest.approx(0.5)
    assert cart.lift.relative == pytest.approx(2.0)
    # se = sqrt(0.75 * 0.25 / 4 + 0.25 * 0.75 / 4) = 0.306186; 1.959964 * se = 0.600114.
    assert cart.lift.interval is not None
    assert cart.lift.interval.lower == pytest.approx(-0.100114, abs=1e-6)
    assert cart.lift.interval.upper == pytest.approx(1.100114, abs=1e-6)
    assert not cart.lift.significant  # four customers a side prove nothing
    assert cart.messages == MessageCounts(
        decisions=15,
        sent=5,
        suppressed=3,
        suppressed_by_reason={"frequency_cap": 2, "quiet_hours": 2},
        held_out=4,
        cancelled=1,
        failed=1,
        pending=1,
    )

    # The same order counts for every program whose window it falls in.
    assert win_back.treated.model_dump() == {
        "customers": 1,
        "conversions": 1,
        "conversion_rate": 1.0,
        "revenue": 100.0,
        "revenue_per_recipient": 100.0,
    }
    assert win_back.holdout.customers == 0
    assert win_back.holdout.conversion_rate is None
    assert win_back.holdout.revenue_per_recipient is None
    assert win_back.lift.model_dump() == {
        "absolute": None,
        "interval": None,
        "relative": None,
        "significant": False,
    }
    assert win_back.messages == MessageCounts(decisions=1, sent=1)


async def test_an_empty_period_gives_an_empty_report(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        report = await lift_report(session, since=SINCE, until=UNTIL)
    assert report.programs == []
    assert report.currencies == []
