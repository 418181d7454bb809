"""``offer_discount``: a discount only within this shopper's ceiling, big ones only with approval.

The limit is enforced here, by the policy engine, whatever the model asked for: a shopper who
talks the model into "90% off" gets the tool's refusal, never the discount. A granted offer is
written to the decision log; the reply guard checks that every discount the agent mentions is
one of these.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context_loader import load_context
from policy.eligibility import Action, evaluate
from profile_store.database import insert_ignoring_conflict, run_transaction
from profile_store.models import Approval, ConsentPurpose, Decision, keyed_id, new_id
from tools.agent_tools.shopper import Shopper, ToolServices

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
APPROVALS = Approval.__table__  # type: ignore[attr-defined]
OFFER_PROGRAM = "agent_offer"
OFFER_VALIDITY = timedelta(days=7)


class OfferStatus(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    NEEDS_APPROVAL = "needs_approval"
    REJECTED = "rejected"  # a person said no


class DiscountRequest(BaseModel):
    percent: float = Field(gt=0, le=100)
    product_ids: list[str] = Field(default_factory=list, max_length=20)


class OfferAnswer(BaseModel):
    status: OfferStatus
    percent: float
    ceiling: float
    reasons: list[str]
    code: str | None = None
    expires_at: datetime | None = None
    product_ids: list[str] = Field(default_factory=list)
    approval_id: str | None = None


def offer_action(request: DiscountRequest) -> Action:
    """The action an offer is. Said in the conversation the shopper started: caps, quiet hours
    and holdouts are for automated outreach; the discount rules and an opt-out of the channel
    still apply."""
    return Action(
        program=OFFER_PROGRAM,
        purpose=ConsentPurpose.TRANSACTIONAL,
        promotion=False,
        automated=False,
        product_ids=request.product_ids,
        discount_percent=request.percent,
    )


async def evaluate_offer(
    services: ToolServices, shopper: Shopper, request: DiscountRequest, now: datetime
) -> OfferAnswer:
    """The policy verdict on a discount: refused (ceiling, full-price buyer, opted out),
    needing a person's approval, or grantable now."""
    rules = services.rules()
    async with services.readers() as session:
        context = await load_context(session, shopper.customer_id, at=now)
    action = offer_action(request)
    verdict = evaluate(context, action, shopper.channel, now, rules)
    status = OfferStatus.GRANTED
    if not verdict.allowed:
        status = OfferStatus.REFUSED
    elif verdict.requires_approval:
        status = OfferStatus.NEEDS_APPROVAL
    return OfferAnswer(
        status=status,
        percent=request.percent,
        ceiling=rules.discounts.ceiling(context.loyalty_tier),
        reasons=[f"{r.code.value}: {r.detail}" for r in verdict.reasons],
        product_ids=request.product_ids,
    )


async def request_approval(
    services: ToolServices, shopper: Shopper, answer: OfferAnswer, request_key: str, now: datetime
) -> str:
    """The pending approval for this paused tool call; written once however often the tool
    re-runs (LangGraph re-runs a tool when it resumes)."""

    async def store(session: AsyncSession) -> str:
        conn = await session.connection()
        await conn.execute(
            insert_ignoring_conflict(conn, APPROVALS, ["request_key"]).values(
                id=new_id("apr"),
                request_key=request_key,
                conversation_id=shopper.conversation_id,
                customer_id=shopper.customer_id,
                kind="discount",
                request={
                    "percent": answer.percent,
                    "product_ids": answer.product_ids,
                    "ceiling": answer.ceiling,
                    "reasons": answer.reasons,
                },
                status="pending",
                created_at=now,
            )
        )
        approval_id = await conn.scalar(
            APPROVALS.select()
            .with_only_columns(APPROVALS.c.id)
            .where(APPROVALS.c.request_key == request_key)
        )
        return str(approval_id)

    return await run_transaction(services.writers, store, name="tool.request_approval")


async def grant_offer(
    services: ToolServices,
    shopper: Shopper,
    answer: OfferAnswer,
    now: datetime,
    *,
    approval_id: str | None = None,
) -> OfferAnswer:
    """Issue the code and log the decision with its reasons; the same call of a retried turn
    gets the code it was given the first time."""
    if shopper.effect_key:
        async with services.readers() as session:
            conn = await session.connection()
            details = await conn.scalar(
                select(DECISIONS.c.details).where(
                    DECISIONS.c.id == keyed_id("dec", shopper.effect_key)
                )
            )
        if details is not None and details.get("code"):
            return answer.model_copy(
                update={
                    "status": OfferStatus.GRANTED,
                    "code": details["code"],
                    "expires_at": datetime.fromisoformat(details["expires_at"]),
                    "approval_id": details.get("approval_id"),
                }
            )
    code = "CC-" + secrets.token_hex(4).upper()
    expires_at = now + OFFER_VALIDITY
    granted = answer.model_copy(
        update={
            "status": OfferStatus.GRANTED,
            "code": code,
            "expires_at": expires_at,
            "approval_id": approval_id,
        }
    )
    await log_offer(services, shopper, granted, now)
    return granted


async def log_offer(
    services: ToolServices, shopper: Shopper, answer: OfferAnswer, now: datetime
) -> None:
    """Every offer decision, granted or not, so a marketer can see why."""
    verdict = {
        OfferStatus.GRANTED: "offered",
        OfferStatus.REFUSED: "suppressed",
        OfferStatus.REJECTED: "rejected",
        OfferStatus.NEEDS_APPROVAL: "pending_approval",
    }[answer.status]
    reasons = [
        {"code": text.split(":", 1)[0], "detail": text.split(":", 1)[-1].strip()}
        for text in answer.reasons
    ]
    if answer.status is OfferStatus.REJECTED:
        reasons.append({"code": "approval_rejected", "detail": "a person declined the offer"})

    async def store(session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(
            insert_ignoring_conflict(conn, DECISIONS, ["id"]).values(
                id=keyed_id("dec", shopper.effect_key) if shopper.effect_key else new_id("dec"),
                customer_id=shopper.customer_id,
                trigger="conversation",
                program=OFFER_PROGRAM,
                action="offer_discount",
                channel=shopper.channel.value,
                product_ids=answer.product_ids,
                verdict=verdict,
                reasons=reasons,
                held_out=False,
                details={
                    "percent": answer.percent,
                    "ceiling": answer.ceiling,
                    "code": answer.code,
                    "approval_id": answer.approval_id,
                    "conversation_id": shopper.conversation_id,
                    "expires_at": answer.expires_at.isoformat() if answer.expires_at else None,
                },
                outcome=verdict,
                outcome_reasons=[],
                created_at=now,
            )
        )

    await run_transaction(services.writers, store, name="tool.log_offer")
