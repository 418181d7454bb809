"""What the decision log says about a program, as next best action reads it: on both databases,
counted as intended, with discounts and opt-outs apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.action_choice import (
    DISCOUNT,
    MESSAGE,
    PURCHASE_CANCELLATION,
    evidence_key,
    load_program_evidence,
)
from profile_store.models import Consent, Customer, Decision, ScheduledSend

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def decision(
    i: int,
    *,
    action: str = MESSAGE,
    held_out: bool = False,
    outcome: str | None,
    repeat: bool = False,
) -> dict[str, Any]:
    return {
        "id": f"dec_{i}",
        "customer_id": f"cus_{i}",
        "trigger": "cart_abandoned",
        "program": "cart_abandoned",
        "action": action,
        "channel": "sms",
        "product_ids": [],
        "verdict": "held_out" if held_out else "scheduled",
        "reasons": [],
        "held_out": held_out,
        "repeat": repeat,
        "details": {},
        "outcome": outcome,
        "outcome_reasons": [],
        "created_at": NOW - timedelta(days=3),
    }


def send(
    i: int, status: str, *, last_error: str | None = None, sent: bool = False
) -> dict[str, Any]:
    return {
        "id": f"snd_{i}",
        "idempotency_key": f"k{i}",
        "decision_id": f"dec_{i}",
        "customer_id": f"cus_{i}",
        "channel": "sms",
        "purpose": "marketing",
        "program": "cart_abandoned",
        "product_ids": [],
        "payload": {},
        "due_at": NOW - timedelta(days=3),
        "status": status,
        "attempts": 1 if sent else 0,
        "last_error": last_error,
        "sent_at": NOW - timedelta(days=3) if sent else None,
        "created_at": NOW - timedelta(days=3),
        "updated_at": NOW - timedelta(days=3),
    }


async def test_evidence_counts_each_arm_the_moot_reminders_and_the_opt_outs(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    decisions = [
        decision(0, outcome="converted"),
        decision(1, outcome="sent"),
        decision(2, outcome="cancelled"),  # bought before the reminder went: converted
        decision(3, outcome="cancelled"),  # the cart was emptied: not a message, not counted
        decision(4, action=DISCOUNT, outcome="converted"),
        decision(5, action=DISCOUNT, outcome="sent"),
        decision(6, held_out=True, outcome="held_out"),
        decision(7, held_out=True, outcome="converted"),
        # Second reminders about the same products: counted apart.
        decision(8, outcome="converted", repeat=True),
        decision(9, held_out=True, outcome="held_out", repeat=True),
    ]
    sends = [
        send(0, "sent", sent=True),
        send(1, "sent", sent=True),
        send(2, "cancelled", last_error=PURCHASE_CANCELLATION),
        send(3, "cancelled", last_error="cancelled: cart emptied"),
        send(4, "sent", sent=True),
        send(5, "sent", sent=True),
        send(8, "sent", sent=True),
    ]
    async with sessions() as session, session.begin():
        conn = await session.connection()
        await conn.execute(
            insert(Customer.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": f"cus_{i}",
                    "created_at": NOW,
                    "updated_at": NOW,
                    "attributes": {},
                    "field_times": {},
                }
                for i in range(10)
            ],
        )
        await conn.execute(insert(Decision.__table__), decisions)  # type: ignore[attr-defined]
        await conn.execute(insert(ScheduledSend.__table__), sends)  # type: ignore[attr-defined]
        await conn.execute(
            insert(Consent.__table__),  # type: ignore[attr-defined]
            [
                {
                    "customer_id": "cus_1",
                    "channel": "sms",
                    "purpose": "marketing",
                    "status": "revoked",
                    "source": "STOP",
                    "occurred_at": NOW - timedelta(days=2, hours=20),  # 4 hours after the send
                    "recorded_at": NOW,
                }
            ],
        )
    async with sessions() as session:
        by_program = await load_program_evidence(session, NOW)
    evidence = by_program["cart_abandoned"]
    assert (evidence.treated, evidence.treated_converted) == (3, 2)
    assert (evidence.discounted, evidence.discounted_converted) == (2, 1)
    assert (evidence.held_out, evidence.held_out_converted) == (2, 1)
    assert (evidence.messages, evidence.opted_out) == (4, 1)
    assert evidence.messages_by_channel == {"sms": 4}
    repeats = by_program[evidence_key("cart_abandoned", repeat=True)]
    assert (repeats.treated, repeats.treated_converted) == (1, 1)
    assert (repeats.held_out, repeats.held_out_converted) == (1, 0)
    assert (repeats.messages, repeats.opted_out) == (1, 0)
