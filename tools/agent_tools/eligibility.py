"""``check_eligibility``: the policy verdict for an action the agent considers, with reasons.

The preview builds the very ``Action`` the tool it previews would take (an offer, a follow-up
the shopper asks for, or an automated program), so "allowed" here means allowed there.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from policy.context_loader import load_context
from policy.decide import action_for
from policy.eligibility import Action, evaluate
from policy.watches import FollowUpKind
from profile_store import clock
from profile_store.models import Channel
from tools.agent_tools.discounts import OFFER_PROGRAM, DiscountRequest, offer_action
from tools.agent_tools.shopper import Shopper, ToolServices

OFFER_NAMES = frozenset({OFFER_PROGRAM, "offer_discount", "discount"})


class EligibilityAnswer(BaseModel):
    allowed: bool
    reasons: list[str]
    requires_approval: bool
    retry_at: datetime | None


def preview_action(program: str, discount_percent: float | None, product_ids: list[str]) -> Action:
    """``program``: ``offer_discount`` (with a percent), a follow-up kind (``reminder``,
    ``back_in_stock``, ``price_drop``), or an automated program's name."""
    if program in OFFER_NAMES or discount_percent is not None:
        percent = discount_percent if discount_percent is not None else 0.0
        return offer_action(
            DiscountRequest.model_construct(percent=percent, product_ids=product_ids)
        )
    if program in FollowUpKind.__members__.values():
        return action_for(program, product_ids, requested=True)
    return action_for(program, product_ids)


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
        preview_action(program, discount_percent, product_ids or []),
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
