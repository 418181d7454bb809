"""``offer_discount``: a discount only within this shopper's ceiling, big ones only with approval.

The limit is enforced here, by the policy engine, whatever the model asked for: a shopper who
talks the model into "90% off" gets the tool's refusal, never the discount. A granted offer is
written to the decision log; the reply guard checks that every discount the agent mentions is
one of these.

Codes behave like money: one active code per shopper per offer window (asking again, however
often, returns the same code), each with an expiry and a scope (the products it was offered on,
a minimum order), no offer on a product bought within the purchase-suppression window, the shop
validates a code with ``GET /v1/discounts/{code}`` and the ``order_completed`` event that carries
it marks it redeemed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context_loader import load_context
from policy.eligibility import Action, evaluate
from profile_store.database import insert_ignoring_conflict, run_transaction
from profile_store.discount_codes import IssuedCode, store_codes
from profile_store.models import (
    Approval,
    ConsentPurpose,
    Decision,
    DiscountCode,
    keyed_id,
    new_id,
)
from tools.agent_tools.shopper import Shopper, ToolServices

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
APPROVALS = Approval.__table__  # type: ignore[attr-defined]
CODES = DiscountCode.__table__  # type: ignore[attr-defined]
OFFER_PROGRAM = "agent_offer"
OFFER_VALIDITY = timedelta(days=7)  # the default of ``discounts.code_validity``


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
    minimum_order: float = 0.0
    existing: bool = Field(default=False, description="the shopper's code from earlier")


def offer_action(request: DiscountRequest) -> Action:
    """The action an offer is. Said in the conversation the shopper started: caps, quiet hours
    and holdouts are for automated outreach; the discount rules, purchase suppression (no
    offer on what the shopper just bought) and an opt-out of the channel still apply."""
    return Action(
        program=OFFER_PROGRAM,
        purpose=ConsentPurpose.TRANSACTIONAL,
        promotion=True,
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
            replayed = answer.model_copy(
                update={
                    "status": OfferStatus.GRANTED,
                    "code": details["code"],
                    "expires_at": datetime.fromisoformat(details["expires_at"]),
                    "approval_id": details.get("approval_id"),
                    "minimum_order": float(details.get("minimum_order") or 0.0),
                }
            )
            await _store_code(services, shopper, replayed, keyed_id("dec", shopper.effect_key), now)
            return replayed
    policy = services.rules().discounts
    code = "CC-" + secrets.token_hex(4).upper()
    expires_at = now + policy.code_validity
    granted = answer.model_copy(
        update={
            "status": OfferStatus.GRANTED,
            "code": code,
            "expires_at": expires_at,
            "approval_id": approval_id,
            "minimum_order": policy.minimum_order,
        }
    )
    decision_id = await log_offer(services, shopper, granted, now)
    await _store_code(services, shopper, granted, decision_id, now)
    return granted


async def _store_code(
    services: ToolServices, shopper: Shopper, granted: OfferAnswer, decision_id: str, now: datetime
) -> None:
    """The code's row, once (a retried turn that replays its grant finds it there)."""
    assert granted.code is not None and granted.expires_at is not None
    issued = IssuedCode(
        code=granted.code,
        customer_id=shopper.customer_id,
        percent=granted.percent,
        product_ids=granted.product_ids,
        minimum_order=granted.minimum_order,
        decision_id=decision_id,
        conversation_id=shopper.conversation_id,
        issued_at=now,
        expires_at=granted.expires_at,
    )

    async def store(session: AsyncSession) -> None:
        await store_codes(await session.connection(), [issued])

    await run_transaction(services.writers, store, name="tool.store_code")


async def current_code(
    services: ToolServices, shopper: Shopper, now: datetime
) -> OfferAnswer | None:
    """The shopper's active code, if they have one: asking again gets the same one. A retried
    turn's own code is not "existing" (that call granted it)."""
    async with services.readers() as session:
        conn = await session.connection()
        row = await _active_code(conn, shopper.customer_id, now)
    if row is None:
        return None
    own = shopper.effect_key is not None and row.decision_id == keyed_id("dec", shopper.effect_key)
    return OfferAnswer(
        status=OfferStatus.GRANTED,
        percent=row.percent,
        ceiling=services.rules().discounts.ceiling(None),
        reasons=[] if own else ["existing_code: one active code per shopper"],
        code=row.code,
        expires_at=row.expires_at,
        product_ids=list(row.product_ids),
        minimum_order=row.minimum_order,
        existing=not own,
    )


async def _active_code(conn: AsyncConnection, customer_id: str, now: datetime) -> Any:
    return (
        await conn.execute(
            select(CODES)
            .where(
                CODES.c.customer_id == customer_id,
                CODES.c.status == "active",
                CODES.c.expires_at > now,
            )
            .order_by(CODES.c.issued_at.desc())
            .limit(1)
        )
    ).first()


class CodeCheck(BaseModel):
    """What the shop learns about a code at checkout."""

    code: str
    valid: bool
    status: str = Field(description="active, redeemed or expired")
    reason: str | None = None
    percent: float
    product_ids: list[str] = Field(description="empty: the whole order")
    minimum_order: float
    customer_id: str
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None = None
    order_id: str | None = None


async def check_code(
    conn: AsyncConnection,
    code: str,
    now: datetime,
    *,
    customer_id: str | None = None,
    total: float | None = None,
) -> CodeCheck | None:
    """None for a code we never issued."""
    row = (await conn.execute(select(CODES).where(CODES.c.code == code.strip().upper()))).first()
    if row is None:
        return None
    status = row.status
    if status == "active" and row.expires_at <= now:
        status = "expired"
    reason = None
    if status != "active":
        reason = f"the code is {status}"
    elif customer_id is not None and customer_id != row.customer_id:
        reason = "the code belongs to another shopper"
    elif total is not None and total < row.minimum_order:
        reason = f"the order total is below the {row.minimum_order:g} minimum"
    return CodeCheck(
        code=row.code,
        valid=reason is None,
        status=status,
        reason=reason,
        percent=row.percent,
        product_ids=list(row.product_ids),
        minimum_order=row.minimum_order,
        customer_id=row.customer_id,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        redeemed_at=row.redeemed_at,
        order_id=row.order_id,
    )


async def log_offer(
    services: ToolServices, shopper: Shopper, answer: OfferAnswer, now: datetime
) -> str:
    """Every offer decision, granted or not, so a marketer can see why; its id."""
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
    decision_id = keyed_id("dec", shopper.effect_key) if shopper.effect_key else new_id("dec")

    async def store(session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(
            insert_ignoring_conflict(conn, DECISIONS, ["id"]).values(
                id=decision_id,
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
                    "minimum_order": answer.minimum_order,
                },
                outcome=verdict,
                outcome_reasons=[],
                created_at=now,
            )
        )

    await run_transaction(services.writers, store, name="tool.log_offer")
    return decision_id
