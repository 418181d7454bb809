"""``schedule_follow_up``: "remind me tomorrow", "tell me when size 42 is back", "let me know if
it drops under 60".

The request becomes a trigger timer, so it takes the same road as every automated message: at
its time (or when the catalog change it waits for happens) the policy decides again, the
decision is logged, and the scheduler sends it on the right channel at the right hour. The
request itself is logged as a decision too, so a marketer can see where a message came from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.watches import WATCHING, FollowUpKind
from profile_store.database import run_transaction
from profile_store.models import Decision, TriggerTimer, keyed_id, new_id
from tools.agent_tools.shopper import Shopper, ToolServices

TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
MAX_PRODUCTS = 5


class FollowUpRequest(BaseModel):
    kind: FollowUpKind
    when: datetime | None = Field(default=None, description="reminders: when to remind")
    product_ids: list[str] = Field(default_factory=list, max_length=MAX_PRODUCTS)
    size: str | None = Field(default=None, max_length=32)
    below_price: float | None = Field(default=None, gt=0)
    note: str = Field(default="", max_length=200, description="what to remind the shopper of")


class FollowUpStatus(StrEnum):
    SCHEDULED = "scheduled"
    WATCHING = "watching"
    REFUSED = "refused"


class FollowUpAnswer(BaseModel):
    status: FollowUpStatus
    kind: FollowUpKind
    reason: str | None = None
    fire_at: datetime | None = None
    watch_until: datetime | None = None
    product_ids: list[str] = Field(default_factory=list)


def refusal(request: FollowUpRequest, now: datetime, max_days: int) -> str | None:
    """Why the request cannot be taken, or None."""
    if request.kind is FollowUpKind.REMINDER:
        if request.when is None:
            return "a reminder needs a time"
        if request.when.tzinfo is None:
            return "the reminder time needs a timezone"
        if request.when <= now:
            return "the reminder time is in the past"
        if request.when - now > timedelta(days=max_days):
            return f"reminders can be at most {max_days} days ahead"
        return None
    if not request.product_ids:
        return f"{request.kind.value} needs the product to watch"
    if request.kind is FollowUpKind.PRICE_DROP and request.below_price is None:
        return "a price alert needs the price to wait for"
    return None


async def schedule_follow_up(
    services: ToolServices, shopper: Shopper, request: FollowUpRequest, now: datetime
) -> FollowUpAnswer:
    max_days = services.rules().agent.tools.schedule_follow_up.max_days_ahead
    reason = refusal(request, now, max_days)
    if reason is not None:
        return FollowUpAnswer(status=FollowUpStatus.REFUSED, kind=request.kind, reason=reason)
    details: dict[str, Any] = {
        "requested": True,
        "conversation_id": shopper.conversation_id,
        "channel": shopper.channel.value,
        "note": request.note.strip(),
        "size": request.size,
        "below_price": request.below_price,
    }
    decision_id = keyed_id("dec", shopper.effect_key) if shopper.effect_key else new_id("dec")

    async def record(session: AsyncSession) -> FollowUpAnswer:
        conn = await session.connection()
        done = await conn.scalar(select(DECISIONS.c.details).where(DECISIONS.c.id == decision_id))
        if done is not None and "answer" in done:
            # This very call ran before (its turn is being retried): the same answer, once.
            return FollowUpAnswer.model_validate(done["answer"])
        if request.kind is FollowUpKind.REMINDER:
            assert request.when is not None
            answer = FollowUpAnswer(
                status=FollowUpStatus.SCHEDULED,
                kind=request.kind,
                fire_at=request.when,
                product_ids=request.product_ids,
            )
            await conn.execute(
                TIMERS.insert().values(
                    customer_id=shopper.customer_id,
                    kind=request.kind.value,
                    anchor=new_id("reminder"),
                    fire_at=request.when,
                    status="pending",
                    product_ids=request.product_ids,
                    details=details,
                    created_at=now,
                )
            )
        else:
            until = now + timedelta(days=max_days)
            answer = FollowUpAnswer(
                status=FollowUpStatus.WATCHING,
                kind=request.kind,
                watch_until=until,
                product_ids=request.product_ids,
            )
            for product_id in request.product_ids:
                await _watch(conn, shopper, request.kind, product_id, until, details, now)
        await conn.execute(
            DECISIONS.insert().values(
                id=decision_id,
                customer_id=shopper.customer_id,
                trigger="conversation",
                program=request.kind.value,
                action="schedule_follow_up",
                channel=shopper.channel.value,
                send_at=answer.fire_at,
                product_ids=request.product_ids,
                verdict=answer.status.value,
                reasons=[{"code": "shopper_request", "detail": "asked in the conversation"}],
                held_out=False,
                details={
                    **details,
                    "watch_until": until_text(answer),
                    "answer": answer.model_dump(mode="json"),
                },
                outcome=None,
                outcome_reasons=[],
                created_at=now,
            )
        )
        return answer

    return await run_transaction(services.writers, record, name="tool.schedule_follow_up")


def until_text(answer: FollowUpAnswer) -> str | None:
    return answer.watch_until.isoformat() if answer.watch_until else None


async def _watch(
    conn: AsyncConnection,
    shopper: Shopper,
    kind: FollowUpKind,
    product_id: str,
    until: datetime,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """One watch per customer, kind and product: asking twice renews it with the new terms."""
    customer_id = shopper.customer_id
    existing = await conn.scalar(
        select(TIMERS.c.id).where(
            TIMERS.c.customer_id == customer_id,
            TIMERS.c.kind == kind.value,
            TIMERS.c.anchor == product_id,
            TIMERS.c.status == WATCHING,
        )
    )
    if existing is not None:
        await conn.execute(
            update(TIMERS)
            .where(TIMERS.c.id == existing)
            .values(fire_at=until, details=details, product_ids=[product_id])
        )
        return
    await conn.execute(
        TIMERS.insert().values(
            customer_id=customer_id,
            kind=kind.value,
            anchor=product_id,
            fire_at=until,
            status=WATCHING,
            product_ids=[product_id],
            details=details,
            created_at=now,
        )
    )
