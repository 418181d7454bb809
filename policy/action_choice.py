"""Next best action: for a fired trigger, which action earns the most over doing nothing.

Candidates: do nothing; the program's message; the message with a discount (only within the
tier's ceiling, never to a full-price buyer as the guardrails define one, and only where a
discount is estimated to change the outcome). Each is valued by its expected incremental
value over doing nothing, in the shop's currency:

- ``p0``, the chance the customer buys anyway, is their ``purchase_propensity_7d`` score, or the
  program's holdout conversion rate when they have no score yet;
- a message adds the program's uplift, measured on its holdout (messaged minus held-out
  conversion rate, each a Beta posterior over the last 90 days, with a modest prior), scaled by
  the customer's headroom (someone who will buy anyway has little to gain) and by how they
  respond on the channel chosen for them against the program's messages on average (a message
  works through being read and answered: someone who clicks twice as often gains about twice
  as much, someone who never answers little);
- the message with a discount is measured the same way, its own arm against the holdout (a
  Beta posterior whose prior is the program's plain message plus the discount's lift over all
  programs, so a discount is tried and measured rather than assumed to help or not, and a
  program with few discounted messages borrows what the others measured); once the
  discount-response model is fitted, it is ruled out for a customer the model is confident
  (its posterior, ``SKIP_CONFIDENCE``) gains less than ``min_discount_sensitivity`` from it.
  It costs the discount on the order;
- a sale earns its order value times ``decisioning.gross_margin``; a discount gives away its
  percentage of every discounted order, including the ones that would have come anyway;
- every message costs ``decisioning.message_cost`` plus its risk of an opt-out: the share of
  the program's messages followed by an opt-out on their channel within two days (a Beta
  posterior, prior 1 in 100), times what the shop loses with the channel, the margin on the
  customer's ``expected_value_90d``.

Uncertainty is handled the Bayesian way: the rates are drawn from their posteriors many times.
The action to send is chosen on one draw (Thompson sampling, so a discount whose value is
uncertain is still tried and measured), and doing nothing is chosen only when the posterior is
confident (``SKIP_CONFIDENCE``) that the message would not pay: a program is not silenced on a
single unlucky draw before it has data. Every candidate is logged with its expected value (the
posterior mean) and its chance of losing money.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.context import CustomerContext
from policy.decisioning import Decisioning
from policy.outcomes import DELIVERED, PURCHASED, cancellation_note
from profile_store.models import (
    Consent,
    ConsentPurpose,
    ConsentStatus,
    Decision,
    ScheduledSend,
)
from profile_store.scoring import discount_logit

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
CONSENTS = Consent.__table__  # type: ignore[attr-defined]
PURCHASE_CANCELLATION = cancellation_note(PURCHASED)  # a reminder an order made moot
EVIDENCE_WINDOW = timedelta(days=90)
# Before a program has data: about 5% buy without a message and 7% with one, worth 20 customers.
PRIOR_TREATED = (1.4, 18.6)
PRIOR_HOLDOUT = (1.0, 19.0)
# Nothing is assumed about a discount before data: its arm starts where the plain message does.
PRIOR_DISCOUNTED = PRIOR_TREATED
PRIOR_OPT_OUT = (1.0, 99.0)  # about 1 message in 100 followed by an opt-out, worth 100 messages
OPT_OUT_WINDOW = timedelta(days=2)  # an opt-out this soon after a message is put down to it
DEFAULT_ORDER_VALUE = 50.0
DRAWS = 64
SKIP_CONFIDENCE = 0.8  # do nothing only when the message loses in at least this share of draws

NOTHING, MESSAGE, DISCOUNT = "do_nothing", "send_message", "send_message_with_discount"
AUTOMATED_ACTIONS = frozenset({NOTHING, MESSAGE, DISCOUNT})


class ProgramEvidence(BaseModel):
    """What the last 90 days say about a program: customers messaged (without and with a
    discount) and held out, and how many of each converted."""

    treated: int = 0
    treated_converted: int = 0
    discounted: int = 0
    discounted_converted: int = 0
    held_out: int = 0
    held_out_converted: int = 0
    messages: int = 0  # that went out
    messages_by_channel: dict[str, int] = Field(default_factory=dict)
    opted_out: int = 0  # of those, followed by an opt-out on their channel


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


class HistoryAtDecision(BaseModel):
    """The customer's order history when a decision was made, kept with it: the discount
    model learns from what was known then, not from orders the message itself brought."""

    orders: int
    discounted_orders: int
    last_order_days: float | None


def history_at_decision(ctx: CustomerContext, now: datetime) -> HistoryAtDecision:
    last = ctx.last_order_at
    return HistoryAtDecision(
        orders=ctx.order_count,
        discounted_orders=ctx.discounted_order_count,
        last_order_days=round((now - last).total_seconds() / 86400, 3) if last else None,
    )


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
    response: float = 1.0,
    shop_wide: ProgramEvidence | None = None,
    discount_model: discount_logit.LogitParams | None = None,
    history: HistoryAtDecision | None = None,
) -> ActionChoice:
    """``response``: how much more than the program's messages on average this customer
    responds on the channel chosen for them (``next_best_action.response_ratio``);
    ``shop_wide``: every program's evidence together (``pooled``), where a discount's effect
    is first learned; ``discount_model`` and ``history``: the fitted discount-response model
    and this customer's order history now, to draw their sensitivity from (``_discount_gate``)."""
    held = _posterior(PRIOR_HOLDOUT, evidence.held_out, evidence.held_out_converted)
    plain = _posterior(PRIOR_TREATED, evidence.treated, evidence.treated_converted)
    coded = _posterior(
        _discount_prior(plain, shop_wide), evidence.discounted, evidence.discounted_converted
    )
    held_mean = _mean(held)
    p0 = _clamp(ctx.scores.get("purchase_propensity_7d", held_mean))
    headroom = (1 - p0) / max(1 - held_mean, 1e-6)
    draws = []
    for _ in range(DRAWS):
        baseline = rng.betavariate(*held)
        draws.append(
            (
                (rng.betavariate(*plain) - baseline) * response,
                (rng.betavariate(*coded) - baseline) * response,
            )
        )
    value = order_value(ctx, value_hint)
    margin = settings.gross_margin
    percent = settings.discount_percent
    opt_out = _posterior(PRIOR_OPT_OUT, evidence.messages, evidence.opted_out)
    at_stake = margin * ctx.scores.get("expected_value_90d", value)
    costs = [settings.message_cost + rng.betavariate(*opt_out) * at_stake for _ in draws]
    draws_and_costs = list(zip(draws, costs, strict=True))

    def message_p(draw: tuple[float, float]) -> float:
        return _clamp(p0 + draw[0] * headroom)

    def discount_p(draw: tuple[float, float]) -> float:
        # Measured, like the plain message, against the holdout: the learned sensitivity only
        # decides who may be offered one (``_discount_gate``), as a ridge-shrunk estimate
        # understates the size of the effect.
        return _clamp(p0 + draw[1] * headroom)

    def message_value(draw: tuple[float, float], cost: float) -> float:
        return (message_p(draw) - p0) * margin * value - cost

    def discount_value(draw: tuple[float, float], cost: float) -> float:
        kept = margin - percent / 100  # what a discounted order still earns, per unit of value
        return (discount_p(draw) * kept - p0 * margin) * value - cost

    def mean(f: Callable[[tuple[float, float]], float]) -> float:
        return sum(f(d) for d in draws) / DRAWS

    cost = sum(costs) / DRAWS
    candidates = [
        Candidate(action=NOTHING, expected_value=0.0, p_convert=round(p0, 4), why="the baseline"),
        _candidate(
            MESSAGE,
            [message_value(d, c) for d, c in draws_and_costs],
            mean(message_p),
            why=f"uplift {mean(lambda d: d[0]):+.3f} (with response x{response:.2f}) x headroom "
            f"{headroom:.2f}, margin "
            f"{margin:g} of {value:.2f}; cost {cost:.2f} with the opt-out risk",
        ),
    ]
    if percent > 0:
        allowed, gate = _discount_gate(
            ctx,
            settings,
            rng,
            discount_allowed=discount_allowed,
            model=discount_model,
            history=history,
        )
        why = gate
        if allowed:
            why = (
                f"measured on this program: {evidence.discounted} messages with a discount, "
                f"{evidence.treated} without (lift {mean(lambda d: d[1] - d[0]):+.3f})"
            ) + (f"; {gate}" if gate else "")
        candidates.append(
            _candidate(
                DISCOUNT,
                [discount_value(d, c) for d, c in draws_and_costs],
                mean(discount_p),
                why=why,
                percent=percent,
                allowed=allowed,
            )
        )
    # One draw decides between the ways to send (exploration); doing nothing needs confidence.
    draw, draw_cost = draws_and_costs[0]
    sendable = [c for c in candidates[1:] if c.allowed]
    drawn = {MESSAGE: message_value(draw, draw_cost), DISCOUNT: discount_value(draw, draw_cost)}
    best = max(sendable, key=lambda c: drawn[c.action])
    chosen = candidates[0] if best.chance_of_loss >= SKIP_CONFIDENCE else best
    return ActionChoice(chosen=chosen, candidates=candidates, p0=round(p0, 4), order_value=value)


def pooled(evidence: EvidenceByProgram) -> ProgramEvidence:
    """All programs' evidence as one: what a discount changes is mostly the shopper's, not the
    program's, so every program's messages tell something about it."""
    every = list(evidence.values())
    return ProgramEvidence(
        treated=sum(e.treated for e in every),
        treated_converted=sum(e.treated_converted for e in every),
        discounted=sum(e.discounted for e in every),
        discounted_converted=sum(e.discounted_converted for e in every),
        held_out=sum(e.held_out for e in every),
        held_out_converted=sum(e.held_out_converted for e in every),
        messages=sum(e.messages for e in every),
        opted_out=sum(e.opted_out for e in every),
    )


def _discount_prior(
    plain: tuple[float, float], shop_wide: ProgramEvidence | None
) -> tuple[float, float]:
    """The discount arm's prior (partial pooling, empirical Bayes): this program's plain
    message plus the discount's lift measured over all programs, worth as many messages as
    ``PRIOR_DISCOUNTED``. A program with few discounted messages of its own is not locked out
    of (or into) a discount by two unlucky (or lucky) draws while others have measured it."""
    weight = sum(PRIOR_DISCOUNTED)
    if shop_wide is None or not shop_wide.discounted or not shop_wide.treated:
        return PRIOR_DISCOUNTED if shop_wide is None else _scaled(plain, weight)
    lift = _mean(
        _posterior(PRIOR_DISCOUNTED, shop_wide.discounted, shop_wide.discounted_converted)
    ) - _mean(_posterior(PRIOR_TREATED, shop_wide.treated, shop_wide.treated_converted))
    centre = min(max(_mean(plain) + lift, 0.001), 0.999)
    return centre * weight, (1 - centre) * weight


def _mean(beta: tuple[float, float]) -> float:
    return beta[0] / (beta[0] + beta[1])


def _scaled(beta: tuple[float, float], weight: float) -> tuple[float, float]:
    centre = _mean(beta)
    return centre * weight, (1 - centre) * weight


def _discount_gate(
    ctx: CustomerContext,
    settings: Decisioning,
    rng: random.Random,
    *,
    discount_allowed: bool,
    model: discount_logit.LogitParams | None,
    history: HistoryAtDecision | None,
) -> tuple[bool, str]:
    """Whether a discount may be considered at all for this customer, and why (or why not).

    With the fitted model and its posterior at hand, a discount is ruled out only when the
    model is confident (``SKIP_CONFIDENCE`` of its draws) that it changes less than the floor:
    where it is unsure, the discount's measured arm decides, and the model gets to see what a
    discount does for such customers. Without it, the stored point estimate decides."""
    if not discount_allowed:
        return False, "not offered: the policy does not allow a discount here"
    floor = settings.min_discount_sensitivity
    if model is not None and model.covariance is not None and history is not None:
        base = discount_logit.features(
            history.orders, history.discounted_orders, history.last_order_days
        )
        draws = discount_logit.sampled_uplifts(model, base, rng, DRAWS)
        below = sum(1 for d in draws if d < floor) / DRAWS
        told = (
            f"sensitivity {discount_logit.uplift(model, base):+.3f}, below {floor:g} in "
            f"{below:.0%} of the model's draws"
        )
        if below >= SKIP_CONFIDENCE:
            return False, f"not offered: {told}"
        return True, told
    if "discount_sensitivity" in ctx.learned_scores:
        sensitivity = ctx.scores.get("discount_sensitivity", 0.0)
        if sensitivity < floor:
            return False, f"not offered: sensitivity {sensitivity:.2f} is below {floor:g}"
        return True, f"learned discount sensitivity {sensitivity:+.3f} passes the floor"
    return True, ""  # a full-price buyer is the eligibility rules' to refuse (``discounts``)


def _posterior(prior: tuple[float, float], trials: int, successes: int) -> tuple[float, float]:
    return prior[0] + successes, prior[1] + trials - successes


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


def evidence_key(program: str, *, repeat: bool = False) -> str:
    """Where a program's evidence is kept: first reminders under the program's name, repeats
    (``Decision.repeat``) beside them, as a second reminder about the same products earns
    what it earns on top of the first, not what the first did."""
    return f"{program}{REPEAT_SUFFIX}" if repeat else program


REPEAT_SUFFIX = " (repeat)"


async def load_program_evidence(session: AsyncSession, now: datetime) -> dict[str, ProgramEvidence]:
    """Per program, over the last 90 days: decisions that sent and that held out, converted or
    not (each decision counts once; an order marks it converted).

    Counted as intended, like the holdout: a reminder the shopper made moot by buying before it
    went out is a messaged decision that converted. Leaving those out would drop the quickest
    buyers from the messaged group only, and make every program look worse than it is."""
    conn = await session.connection()
    bought_first = SENDS.c.last_error == PURCHASE_CANCELLATION
    converted = func.sum(case(((DECISIONS.c.outcome == "converted") | bought_first, 1), else_=0))
    with_discount = DECISIONS.c.action == DISCOUNT
    went_out = func.sum(case((DECISIONS.c.outcome.in_(sorted(DELIVERED)), 1), else_=0))
    rows = await conn.execute(
        select(
            DECISIONS.c.program,
            DECISIONS.c.repeat,
            DECISIONS.c.held_out,
            with_discount,
            SENDS.c.channel,
            func.count(),
            converted,
            went_out,
        )
        .select_from(DECISIONS.outerjoin(SENDS, SENDS.c.decision_id == DECISIONS.c.id))
        .where(
            DECISIONS.c.created_at > now - EVIDENCE_WINDOW,
            DECISIONS.c.trigger != "conversation",
            DECISIONS.c.held_out.is_(True)
            | DECISIONS.c.outcome.in_(sorted(DELIVERED))
            | bought_first,
        )
        .group_by(
            DECISIONS.c.program,
            DECISIONS.c.repeat,
            DECISIONS.c.held_out,
            with_discount,
            SENDS.c.channel,
        )
    )
    evidence: dict[str, ProgramEvidence] = {}
    for program, repeat, held_out, discounted, channel, count, conversions, sent in rows:
        found = evidence.setdefault(evidence_key(program, repeat=bool(repeat)), ProgramEvidence())
        count, conversions = int(count), int(conversions or 0)
        if held_out:
            found.held_out += count
            found.held_out_converted += conversions
            continue  # never messaged, whatever the outcome says (an order marks it converted)
        found.messages += int(sent or 0)
        if sent and channel:
            found.messages_by_channel[channel] = found.messages_by_channel.get(channel, 0) + int(
                sent
            )
        if discounted:
            found.discounted += count
            found.discounted_converted += conversions
        else:
            found.treated += count
            found.treated_converted += conversions
    for program, opted_out in (await _opt_outs_after_messages(conn, now)).items():
        evidence.setdefault(program, ProgramEvidence()).opted_out = opted_out
    return evidence


async def _opt_outs_after_messages(conn: Any, now: datetime) -> dict[str, int]:
    """Per program (first reminders and repeats apart), how many marketing opt-outs came within
    ``OPT_OUT_WINDOW`` of one of its messages on that channel (each opt-out put down to the
    latest message before it)."""
    since = now - EVIDENCE_WINDOW
    revocations = (
        await conn.execute(
            select(CONSENTS.c.customer_id, CONSENTS.c.channel, CONSENTS.c.occurred_at).where(
                CONSENTS.c.purpose == ConsentPurpose.MARKETING.value,
                CONSENTS.c.status == ConsentStatus.REVOKED.value,
                CONSENTS.c.occurred_at > since,
            )
        )
    ).all()
    if not revocations:
        return {}
    sent: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for row in await conn.execute(
        select(
            SENDS.c.customer_id,
            SENDS.c.channel,
            SENDS.c.sent_at,
            SENDS.c.program,
            func.coalesce(DECISIONS.c.repeat, False).label("repeat"),
        )
        .select_from(SENDS.outerjoin(DECISIONS, DECISIONS.c.id == SENDS.c.decision_id))
        .where(
            SENDS.c.customer_id.in_(sorted({r.customer_id for r in revocations})),
            SENDS.c.status == "sent",
            SENDS.c.purpose == ConsentPurpose.MARKETING.value,
            SENDS.c.sent_at > since - OPT_OUT_WINDOW,
        )
    ):
        key = evidence_key(row.program, repeat=bool(row.repeat))
        sent.setdefault((row.customer_id, row.channel), []).append((row.sent_at, key))
    counts: dict[str, int] = {}
    for revocation in revocations:
        at = revocation.occurred_at  # UTCDateTime columns read back aware
        before = [
            (when, program)
            for when, program in sent.get((revocation.customer_id, revocation.channel), [])
            if at - OPT_OUT_WINDOW <= when <= at
        ]
        if before:
            program = max(before)[1]
            counts[program] = counts.get(program, 0) + 1
    return counts


def _clamp(p: float) -> float:
    return min(max(p, 0.0), 1.0)


EvidenceByProgram = Mapping[str, ProgramEvidence]
