"""From a fired trigger to a logged decision: eligible channels, the best one, the best hour.

Every outcome is written to the decision log with its reasons: scheduled, suppressed (and why,
per channel) or held out.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.action_choice import (
    NOTHING,
    EvidenceByProgram,
    ProgramEvidence,
    choose_action,
    evidence_key,
    history_at_decision,
    pooled,
    static_choice,
)
from policy.audiences import audience_facts, matches, parse_rule
from policy.content import MessageContent, NothingToShow, choose_content
from policy.context_loader import load_context
from policy.decisioning import Decisioning
from policy.eligibility import Action, Reason, ReasonCode, Verdict, evaluate
from policy.guardrails import Guardrails
from policy.local_time import customer_zone
from policy.messages import default_variants
from policy.next_best_action import (
    BetaPrior,
    ChannelChoice,
    choose_channel,
    response_ratio,
)
from policy.outcomes import cancel_send
from policy.products import NoProductLookup, ProductLookup, with_purchase_categories
from policy.send_time import HourProfile, SendTimeChoice, choose_send_time
from policy.triggers import ATTRIBUTION_WINDOW, REMINDERS
from policy.variants import VariantStats, choose_variant, for_locale
from profile_store.models import Channel, ConsentPurpose, Decision, ScheduledSend, new_id
from profile_store.scoring.discount_logit import LogitParams
from profile_store.trait_store import load_traits

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
# Reasons that lift by themselves: the send can wait for them rather than be dropped.
DEFERRABLE = {ReasonCode.FREQUENCY_CAP, ReasonCode.QUIET_HOURS}
MAX_DEFERRAL = timedelta(days=7)


class DecisionPlan(BaseModel):
    decision_id: str
    customer_id: str
    program: str
    verdict: str  # scheduled, suppressed, held_out
    action: Action
    channel: Channel | None = None
    send_at: datetime | None = None
    content: MessageContent | None = None
    variant: str | None = None
    product_ids: list[str] = []

    @property
    def purpose(self) -> str:
        return self.action.purpose.value


def action_for(
    trigger: str,
    product_ids: list[str],
    *,
    requested: bool = False,
    categories: list[str] | None = None,
) -> Action:
    """The one ``Action`` a trigger (or a shopper's follow-up request) stands for: evaluated
    when deciding, stored with the send and evaluated again, unchanged, when it is due.
    ``product_ids`` are what the message shows (for a post-purchase message, complements:
    never what was bought)."""
    if requested:
        # The shopper asked for this message in a conversation: a service message, not
        # marketing (no marketing opt-in needed, not counted against marketing caps).
        return Action(
            program=trigger,
            purpose=ConsentPurpose.TRANSACTIONAL,
            promotion=trigger != "reminder",
            product_ids=product_ids,
            categories=categories or [],
        )
    return Action(program=trigger, product_ids=product_ids, categories=categories or [])


def not_configured(channel: Channel) -> Verdict:
    return Verdict(
        allowed=False,
        reasons=[
            Reason(
                code=ReasonCode.CHANNEL_NOT_CONFIGURED,
                blocking=True,
                detail=f"{channel.value} has no credentials on this deployment",
            )
        ],
    )


async def decide(
    session: AsyncSession,
    *,
    customer_id: str,
    trigger: str,
    product_ids: list[str],
    rules: Guardrails,
    now: datetime,
    rng: random.Random,
    priors: dict[Channel, BetaPrior],
    requested: bool = False,
    note: str = "",
    preferred: Channel | None = None,
    channels: frozenset[Channel] | None = None,
    products: ProductLookup | None = None,
    details_of_trigger: dict[str, Any] | None = None,
    variant_stats: VariantStats | None = None,
    evidence: EvidenceByProgram | None = None,
    shop_hours: HourProfile | None = None,
    discount_model: LogitParams | None = None,
) -> DecisionPlan:
    """``requested``: the shopper asked for it (a follow-up); ``note`` their words for it;
    ``preferred``: the channel they asked it on, chosen when it is eligible; ``channels``: the
    ones this deployment can send on (None: all); ``products``: the catalog (what to show, and
    categories); ``details_of_trigger``: a watch's terms (size, price when asked);
    ``variant_stats``: how each copy variant did; ``shop_hours``: when the shop's customers
    engage, by local hour, the prior for a customer's own send time; ``discount_model``: the
    fitted discount-response model, to draw each customer's sensitivity from."""
    lookup = products or NoProductLookup()
    ctx = await load_context(session, customer_id, at=now)
    ctx = (await with_purchase_categories({customer_id: ctx}, lookup))[customer_id]
    content = await choose_content(
        trigger, ctx, product_ids, {**(details_of_trigger or {}), "note": note}, lookup, rules, now
    )
    # The message is about what it shows; a post-purchase message never about what was bought.
    shown = (
        [p.product_id for p in content.products]
        if isinstance(content, MessageContent) and trigger != "reminder"
        else ([] if trigger == "post_purchase" else product_ids)
    )
    facts = await lookup.facts(shown) if shown else {}
    categories = sorted({f.category for f in facts.values() if f.category})
    action = action_for(trigger, shown, requested=requested, categories=categories)
    verdicts = {
        ch: evaluate(ctx, action, ch, now, rules)
        if channels is None or ch in channels
        else not_configured(ch)
        for ch in sorted(ctx.reachable)
    }
    candidates: list[dict[str, Any]] = [
        {"channel": ch.value, "allowed": v.allowed, "reasons": _reasons(v)}
        for ch, v in verdicts.items()
    ]
    details: dict[str, Any] = {
        "candidates": candidates,
        "action": action.model_dump(mode="json"),
        "trigger_product_ids": product_ids,
    }
    base: dict[str, Any] = {
        "created_at": now,
        "customer_id": customer_id,
        "trigger": trigger,
        "program": action.program,
        "action": "send_message",
        "product_ids": action.product_ids,  # what the message is about, not what triggered it
    }

    if isinstance(content, NothingToShow):
        # Decided before the holdout, so treated and held-out customers are alike. What the
        # rules would have said is kept beside it (a purchase is why nothing is left to show).
        blocked = [
            {**r, "channel": c["channel"]}
            for c in candidates
            for r in c["reasons"]
            if r["blocking"] and r["code"] != ReasonCode.HOLDOUT.value
        ]
        reasons = [
            *blocked,
            {"code": ReasonCode.NOTHING_TO_SHOW.value, "blocking": True, "detail": content.reason},
        ]
        return await _log(session, base, "suppressed", details, action, reasons=reasons)
    program = rules.program(action.program)
    if not requested and program.audience is not None:
        audience = rules.audiences[program.audience]
        details["audience"] = program.audience
        if not matches(parse_rule(audience.rule), audience_facts(ctx, now)):
            reasons = [
                {
                    "code": ReasonCode.NOT_IN_AUDIENCE.value,
                    "blocking": True,
                    "detail": f"not in audience {program.audience!r} ({audience.rule})",
                }
            ]
            return await _log(session, base, "suppressed", details, action, reasons=reasons)
    settings = rules.decisioning
    static = settings.mode == "static"
    if not static and not requested:
        # Decided before the holdout, like an audience, so both groups leave these out.
        covering = await _covering_send(
            session, customer_id, product_ids, action.program, settings, now
        )
        if covering is not None and covering.held_out:
            details["covered_by"] = covering.model_dump(mode="json")
            reasons = [_episode_held_out(covering, now)]
            return await _log(session, base, "skipped", details, action, reasons=reasons)
        if covering is not None:
            # Another reminder about the same products: whether it pays is measured on repeats
            # alone (their own holdout and arms), not assumed either way.
            details["repeats"] = covering.model_dump(mode="json")
            base["repeat"] = True
    if any(v.held_out for v in verdicts.values()):
        held = next(v for v in verdicts.values() if v.held_out)
        return await _log(
            session, base, "held_out", details, action, reasons=_reasons(held), held_out=True
        )

    eligible = {ch: v for ch, v in verdicts.items() if _can_go(v, now)}
    if not eligible:
        reasons = [{**r, "channel": c["channel"]} for c in candidates for r in c["reasons"]] or [
            {"code": "no_address", "blocking": True, "detail": "no reachable channel"}
        ]
        return await _log(session, base, "suppressed", details, action, reasons=reasons)

    traits = (await load_traits(session, [customer_id])).get(customer_id)
    engagement = traits.channel_engagement if traits else {}
    hours = traits.engagement_hours if traits else [0] * 24
    if static and not requested:
        fixed = settings.static.channel
        if fixed not in eligible:
            reasons = (
                [{**r, "channel": fixed.value} for r in _reasons(verdicts[fixed]) if r["blocking"]]
                if fixed in verdicts
                else [
                    {"code": "no_address", "blocking": True, "detail": f"no {fixed.value} address"}
                ]
            )
            return await _log(session, base, "suppressed", details, action, reasons=reasons)
        choice = ChannelChoice(channel=fixed, scores=[])
    else:
        choice = choose_channel(list(eligible), engagement, priors, rng)
        # A channel the shopper asked on (or told us they prefer) wins when it may be used.
        wanted = preferred or ctx.preferred_channel
        if wanted in eligible and choice.channel != wanted:
            choice = choice.model_copy(update={"channel": wanted})
    if not requested:
        program_evidence = (evidence or {}).get(
            evidence_key(action.program, repeat=bool(base.get("repeat"))), ProgramEvidence()
        )
        percent = settings.static.discount_percent if static else settings.discount_percent
        history = history_at_decision(ctx, now)
        discounted = action.model_copy(update={"discount_percent": percent})
        # Quiet hours or a full cap only delay the send: they do not make a discount unfit.
        may_discount = percent > 0 and any(
            _can_go(v := evaluate(ctx, discounted, ch, now, rules), now) and not v.requires_approval
            for ch in eligible
        )
        pick = (
            static_choice(settings, discount_allowed=may_discount)
            if static
            else choose_action(
                ctx,
                program_evidence,
                settings,
                rng,
                discount_allowed=may_discount,
                value_hint=_value_hint(content),
                response=response_ratio(choice, priors, program_evidence.messages_by_channel),
                shop_wide=pooled(evidence or {}),
                discount_model=discount_model,
                history=history,
            )
        )
        details["next_best_action"] = pick.model_dump(mode="json")
        details["customer_at_decision"] = history.model_dump(mode="json")
        base["action"] = pick.chosen.action
        if pick.chosen.action == NOTHING:
            reasons = [
                {
                    "code": "no_expected_gain",
                    "blocking": False,
                    "detail": "doing nothing is worth the most: "
                    + "; ".join(f"{c.action} {c.expected_value:+.2f}" for c in pick.candidates),
                }
            ]
            return await _log(session, base, "skipped", details, action, reasons=reasons)
        if pick.chosen.discount_percent:
            action = action.model_copy(update={"discount_percent": pick.chosen.discount_percent})
            details["action"] = action.model_dump(mode="json")
        conflict = await _conflicting_send(session, customer_id, action.program, settings)
        if conflict is not None:
            mine, theirs = (
                _priority(settings, action.program),
                _priority(settings, conflict.program),
            )
            if theirs <= mine:
                reasons = [
                    {
                        "code": ReasonCode.PROGRAM_CONFLICT.value,
                        "blocking": True,
                        "detail": f"{conflict.program!r} goes first: it is due for this "
                        "customer and comes earlier in decisioning.priority",
                    }
                ]
                return await _log(session, base, "suppressed", details, action, reasons=reasons)
            await cancel_send(session, conflict.id, f"replaced by {action.program}")

    verdict = eligible[choice.channel]
    zone = customer_zone(ctx.timezone, ctx.phone, rules.quiet_hours.default_timezone)
    earliest = max(now, verdict.retry_at or now)
    if requested or static:
        # The shopper chose the moment ("remind me tomorrow at 10"); only a rule that blocks
        # now (their own quiet hours) moves it.
        timing = SendTimeChoice(
            send_at=earliest,
            local_hour=earliest.astimezone(zone).hour,
            score=1.0,
            reason="when the shopper asked for it" if requested else "static rules: at once",
        )
    else:
        timing = choose_send_time(hours, zone, rules.quiet_hours, earliest, shop=shop_hours)
    variants = for_locale(
        program.variants or default_variants(action.program),
        ctx.locale,
        rules.brand.default_locale,
    )
    copy = choose_variant(action.program, variants, variant_stats or {}, rng)
    details.update(
        scores=[s.model_dump(mode="json") for s in choice.scores],
        send_time=timing.model_dump(mode="json"),
        variant_scores=[s.model_dump(mode="json") for s in copy.scores],
        content=content.model_dump(mode="json"),
    )
    return await _log(
        session,
        base,
        "scheduled",
        details,
        action,
        reasons=_reasons(verdict),
        channel=choice.channel,
        send_at=timing.send_at,
        content=content,
        variant=copy.variant.id,
    )


def _value_hint(content: MessageContent) -> float | None:
    """What the message is about is worth about this (the cart, or its first product)."""
    if content.cart_total:
        return content.cart_total
    prices = [p.price for p in content.products if p.price]
    return prices[0] if prices else None


def _priority(settings: Decisioning, program: str) -> int:
    order = settings.priority
    return order.index(program) if program in order else len(order)


class _CoveringSend(BaseModel):
    program: str
    product_ids: list[str]
    at: datetime
    held_out: bool = False


def _episode_held_out(covering: _CoveringSend, now: datetime) -> dict[str, Any]:
    return {
        "code": ReasonCode.EPISODE_HELD_OUT.value,
        "blocking": True,
        "detail": f"{covering.program} about {', '.join(covering.product_ids)} held this "
        f"customer out {_ago(now - covering.at)} ago: no reminder about the same products "
        "until its window ends, so the holdout measures what reminding does",
    }


async def _covering_send(
    session: AsyncSession,
    customer_id: str,
    product_ids: list[str],
    program: str,
    settings: Decisioning,
    now: datetime,
) -> _CoveringSend | None:
    """An abandonment reminder about any of these products (what it was about, not the
    alternatives it showed), from this program or one that comes before it, sent or on its way
    within the attribution window: another one now is a repeat, worth what repeats were
    measured to add. A cart reminder after a browse reminder is a first; a browse reminder
    after a cart reminder, or after itself, is a repeat.

    A reminder held out covers too, and then nothing follows it: otherwise the browse reminder
    two hours after a held-out cart reminder would reach the held-out shopper, and the cart
    program's holdout would measure the browse reminder instead of nothing."""
    reminders = [kind.value for kind in REMINDERS]
    if not product_ids or program not in reminders:
        return None
    conn = await session.connection()
    since = now - ATTRIBUTION_WINDOW
    sent = await conn.execute(
        select(SENDS.c.program, SENDS.c.product_ids, SENDS.c.created_at, DECISIONS.c.details)
        .select_from(SENDS.outerjoin(DECISIONS, DECISIONS.c.id == SENDS.c.decision_id))
        .where(
            SENDS.c.customer_id == customer_id,
            SENDS.c.program.in_(reminders),
            SENDS.c.status.in_(["pending", "sending", "sent"]),
            SENDS.c.purpose == ConsentPurpose.MARKETING.value,
            SENDS.c.created_at > since,
        )
    )
    held = await conn.execute(
        select(
            DECISIONS.c.program,
            DECISIONS.c.product_ids,
            DECISIONS.c.created_at,
            DECISIONS.c.details,
        ).where(
            DECISIONS.c.customer_id == customer_id,
            DECISIONS.c.program.in_(reminders),
            DECISIONS.c.held_out.is_(True),
            DECISIONS.c.created_at > since,
        )
    )
    found = [(row, False) for row in sent] + [(row, True) for row in held]
    mine = _priority(settings, program)
    wanted = set(product_ids)
    for row, held_out in sorted(found, key=lambda f: f[0].created_at, reverse=True):
        about = (row.details or {}).get("trigger_product_ids") or row.product_ids or []
        shared = sorted(wanted & set(about))
        if shared and _priority(settings, row.program) <= mine:
            return _CoveringSend(
                program=row.program, product_ids=shared, at=row.created_at, held_out=held_out
            )
    return None


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hour(s)" if hours < 48 else f"{hours / 24:.0f} day(s)"


class _PendingSend(BaseModel):
    id: str
    program: str


async def _conflicting_send(
    session: AsyncSession, customer_id: str, program: str, settings: Decisioning
) -> _PendingSend | None:
    """Another program's marketing message waiting to go to this customer."""
    conn = await session.connection()
    row = (
        await conn.execute(
            select(SENDS.c.id, SENDS.c.program)
            .where(
                SENDS.c.customer_id == customer_id,
                SENDS.c.status == "pending",
                SENDS.c.purpose == ConsentPurpose.MARKETING.value,
                SENDS.c.program != program,
            )
            .order_by(SENDS.c.due_at)
            .limit(1)
        )
    ).first()
    return _PendingSend(id=row.id, program=row.program) if row is not None else None


def _can_go(verdict: Verdict, now: datetime) -> bool:
    if verdict.allowed:
        return True
    blocking = {r.code for r in verdict.reasons if r.blocking}
    return (
        blocking <= DEFERRABLE
        and verdict.retry_at is not None
        and verdict.retry_at - now <= MAX_DEFERRAL
    )


def _reasons(verdict: Verdict) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in verdict.reasons]


async def _log(
    session: AsyncSession,
    base: dict[str, Any],
    verdict: str,
    details: dict[str, Any],
    action: Action,
    *,
    reasons: list[dict[str, Any]],
    held_out: bool = False,
    channel: Channel | None = None,
    send_at: datetime | None = None,
    content: MessageContent | None = None,
    variant: str | None = None,
) -> DecisionPlan:
    decision_id = new_id("dec")
    conn = await session.connection()
    await conn.execute(
        insert(DECISIONS).values(
            id=decision_id,
            verdict=verdict,
            reasons=reasons,
            held_out=held_out,
            channel=channel.value if channel else None,
            send_at=send_at,
            details=details,
            outcome=None if verdict == "scheduled" else verdict,
            variant=variant,
            **base,
        )
    )
    return DecisionPlan(
        decision_id=decision_id,
        customer_id=base["customer_id"],
        program=base["program"],
        verdict=verdict,
        action=action,
        channel=channel,
        send_at=send_at,
        content=content,
        variant=variant,
        product_ids=base["product_ids"],
    )
