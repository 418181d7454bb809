"""Next best action: for a fired trigger, which action earns the most over doing nothing.

Candidates: do nothing; the program's message; the message with a discount (only within the
tier's ceiling, never to a full-price buyer, and only where the shopper's discount sensitivity
says it changes the outcome). Each is valued by its expected incremental value over doing
nothing, in the shop's currency:

- ``p0``, the chance the customer buys anyway, is their ``purchase_propensity_7d`` score, or the
  program's holdout conversion rate when they have no score yet;
- a message adds the program's uplift, measured on its holdout (treated minus held-out
  conversion rate, each a Beta posterior over the last 90 days, with a modest prior), scaled by
  the customer's headroom (someone who will buy anyway has little to gain);
- a discount adds the customer's ``discount_sensitivity`` and costs the discount on the order;
- every message costs ``decisioning.message_cost`` (attention, the risk of an opt-out).

Uncertainty is handled the Bayesian way: the uplift is drawn from its posterior many times.
The action to send is chosen on one draw (Thompson sampling, so a discount whose value is
uncertain is still tried and measured), and doing nothing is chosen only when the posterior is
confident (``SKIP_CONFIDENCE``) that the message would not pay: a program is not silenced on a
single unlucky draw before it has data. Every candidate is logged with its expected value (the
posterior mean) and its chance of losing money.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context import CustomerContext
from policy.decisioning import Decisioning
from policy.outcomes import DELIVERED
from profile_store.models import Decision

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
EVIDENCE_WINDOW = timedelta(days=90)
# Before a program has data: about 5% buy without a message and 7% with one, worth 20 customers.
PRIOR_TREATED = (1.4, 18.6)
PRIOR_HOLDOUT = (1.0, 19.0)
DEFAULT_ORDER_VALUE = 50.0
COLD_DISCOUNT_SENSITIVITY = 0.0  # without a score, a discount is not assumed to help
DRAWS = 64
SKIP_CONFIDENCE = 0.8  # do nothing only when the message loses in at least this share of draws

NOTHING, MESSAGE, DISCOUNT = "do_nothing", "send_message", "send_message_with_discount"
AUTOMATED_ACTIONS = frozenset({NOTHING, MESSAGE, DISCOUNT})


class ProgramEvidence(BaseModel):
    """What the last 90 days say about a program: customers messaged and held out, and how
    many of each converted."""

    treated: int = 0
    treated_converted: int = 0
    held_out: int = 0
    held_out_converted: int = 0


class Candidate(BaseModel):
    action: str
    expected_value: float  # posterior mean, in the shop's currency
    p_convert: float
    discount_percent: float | None = None
    allowed: bool = True
    chance_of_loss: float = 0.0
    why: str = ""


class ActionChoice(BaseModel):
    chosen: Candidate
    candidates: list[Candidate]
    p0: float
    order_value: float


def order_value(ctx: CustomerContext, fallback: float | None = None) -> float:
    """What an order from this customer is worth: their average order, else the cart, else the
    product's price, else a shop-wide default."""
    if ctx.order_count and ctx.lifetime_value:
        value = max(ctx.lifetime_value.values()) / ctx.order_count
        if value > 0:
            return value
    cart = sum(line.quantity * (line.price or 0.0) for line in ctx.cart)
    if cart > 0:
        return cart
    return fallback if fallback and fallback > 0 else DEFAULT_ORDER_VALUE


def choose_action(
    ctx: CustomerContext,
    evidence: ProgramEvidence,
    settings: Decisioning,
    rng: random.Random,
    *,
    discount_allowed: bool,
    value_hint: float | None = None,
) -> ActionChoice:
    held = (
        PRIOR_HOLDOUT[0] + evidence.held_out_converted,
        PRIOR_HOLDOUT[1] + evidence.held_out - evidence.held_out_converted,
    )
    treated = (
        PRIOR_TREATED[0] + evidence.treated_converted,
        PRIOR_TREATED[1] + evidence.treated - evidence.treated_converted,
    )
    held_mean = held[0] / (held[0] + held[1])
    p0 = _clamp(ctx.scores.get("purchase_propensity_7d", held_mean))
    headroom = (1 - p0) / max(1 - held_mean, 1e-6)
    uplifts = [rng.betavariate(*treated) - rng.betavariate(*held) for _ in range(DRAWS)]
    value = order_value(ctx, value_hint)
    cost = settings.message_cost
    sensitivity = ctx.scores.get("discount_sensitivity", COLD_DISCOUNT_SENSITIVITY)
    percent = settings.discount_percent

    def message_value(uplift: float) -> float:
        return (_clamp(p0 + uplift * headroom) - p0) * value - cost

    def discount_value(uplift: float) -> float:
        p = _clamp(p0 + uplift * headroom + sensitivity)
        return (p * (1 - percent / 100) - p0) * value - cost

    mean_uplift = sum(uplifts) / DRAWS
    candidates = [
        Candidate(action=NOTHING, expected_value=0.0, p_convert=round(p0, 4), why="the baseline"),
        _candidate(
            MESSAGE,
            [message_value(u) for u in uplifts],
            _clamp(p0 + mean_uplift * headroom),
            why=f"uplift {mean_uplift:+.3f} x headroom {headroom:.2f}, cost {cost:g}",
        ),
    ]
    if percent > 0:
        worth = sensitivity >= settings.min_discount_sensitivity
        why = f"discount sensitivity {sensitivity:.2f}"
        if not discount_allowed:
            why = "not offered: the policy does not allow a discount here"
        elif not worth:
            why = (
                f"not offered: sensitivity {sensitivity:.2f} is below "
                f"{settings.min_discount_sensitivity:g}"
            )
        candidates.append(
            _candidate(
                DISCOUNT,
                [discount_value(u) for u in uplifts],
                _clamp(p0 + mean_uplift * headroom + sensitivity),
                why=why,
                percent=percent,
                allowed=discount_allowed and worth,
            )
        )
    # One draw decides between the ways to send (exploration); doing nothing needs confidence.
    draw = uplifts[0]
    sendable = [c for c in candidates[1:] if c.allowed]
    drawn = {MESSAGE: message_value(draw), DISCOUNT: discount_value(draw)}
    best = max(sendable, key=lambda c: drawn[c.action])
    chosen = candidates[0] if best.chance_of_loss >= SKIP_CONFIDENCE else best
    return ActionChoice(chosen=chosen, candidates=candidates, p0=round(p0, 4), order_value=value)


def _candidate(
    action: str,
    values: list[float],
    p_convert: float,
    *,
    why: str,
    percent: float | None = None,
    allowed: bool = True,
) -> Candidate:
    return Candidate(
        action=action,
        expected_value=round(sum(values) / len(values), 4),
        p_convert=round(p_convert, 4),
        discount_percent=percent,
        allowed=allowed,
        chance_of_loss=round(sum(1 for v in values if v <= 0) / len(values), 3),
        why=why,
    )


def static_choice(settings: Decisioning, *, discount_allowed: bool) -> ActionChoice:
    """The rule book: always the message, with the fixed discount where the policy allows it."""
    percent = settings.static.discount_percent
    if percent > 0 and discount_allowed:
        chosen = Candidate(
            action=DISCOUNT,
            expected_value=0.0,
            p_convert=0.0,
            discount_percent=percent,
            why="static rules: every message carries the discount",
        )
    else:
        chosen = Candidate(
            action=MESSAGE, expected_value=0.0, p_convert=0.0, why="static rules: always send"
        )
    return ActionChoice(chosen=chosen, candidates=[chosen], p0=0.0, order_value=0.0)


async def load_program_evidence(session: AsyncSession, now: datetime) -> dict[str, ProgramEvidence]:
    """Per program, over the last 90 days: decisions that sent and that held out, converted or
    not (each decision counts once; an order marks it converted)."""
    conn = await session.connection()
    converted = func.sum(case((DECISIONS.c.outcome == "converted", 1), else_=0))
    rows = await conn.execute(
        select(DECISIONS.c.program, DECISIONS.c.held_out, func.count(), converted)
        .where(
            DECISIONS.c.created_at > now - EVIDENCE_WINDOW,
            DECISIONS.c.trigger != "conversation",
            (DECISIONS.c.held_out.is_(True)) | (DECISIONS.c.outcome.in_(sorted(DELIVERED))),
        )
        .group_by(DECISIONS.c.program, DECISIONS.c.held_out)
    )
    evidence: dict[str, ProgramEvidence] = {}
    for program, held_out, count, conversions in rows:
        found = evidence.setdefault(program, ProgramEvidence())
        if held_out:
            found.held_out, found.held_out_converted = int(count), int(conversions or 0)
        else:
            found.treated, found.treated_converted = int(count), int(conversions or 0)
    return evidence


def _clamp(p: float) -> float:
    return min(max(p, 0.0), 1.0)


EvidenceByProgram = Mapping[str, ProgramEvidence]
