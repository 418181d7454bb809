"""``check_eligibility``: the policy verdict for an action the agent considers, with reasons."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from policy.context_loader import load_context
from policy.eligibility import Action, evaluate
from profile_store import clock
from profile_store.models import Channel
from tools.agent_tools.shopper import Shopper, ToolServices


class EligibilityAnswer(BaseModel):
    allowed: bool
    reasons: list[str]
    requires_approval: bool
    retry_at: datetime | None


async def check_eligibility(
    services: ToolServices,
    shopper: Shopper,
    program: str,
    channel: Channel | None = None,
    discount_percent: float | None = None,
    product_ids: list[str] | None = None,
    now: datetime | None = None,
) -> EligibilityAnswer:
    at = now or clock.now()
    async with services.readers() as session:
        context = await load_context(session, shopper.customer_id, at=at)
    verdict = evaluate(
        context,
        Action(
            program=program,
            discount_percent=discount_percent,
            product_ids=product_ids or [],
        ),
        channel or shopper.channel,
        at,
        services.rules(),
    )
    return EligibilityAnswer(
        allowed=verdict.allowed,
        reasons=[f"{r.code.value}: {r.detail}" for r in verdict.reasons],
        requires_approval=verdict.requires_approval,
        retry_at=verdict.retry_at,
    )
