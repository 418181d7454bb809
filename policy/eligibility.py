"""The eligibility engine: may this action go to this customer on this channel at this time?

One pure function, :func:`evaluate`, used by the agent's tool when it considers an action and
again by the scheduler at send time (the world may have changed since). It checks every rule and
returns every reason, so the decision log can say exactly why a message was or was not sent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from policy.context import CustomerContext
from policy.guardrails import Guardrails
from policy.local_time import customer_zone, in_window, next_local
from policy.products import category_key
from profile_store.models import Channel, ConsentPurpose, ConsentStatus


class ReasonCode(StrEnum):
    PROGRAM_DISABLED = "program_disabled"
    NO_ADDRESS = "no_address"
    CONSENT_MISSING = "consent_missing"
    CONSENT_REVOKED = "consent_revoked"
    HUMAN_OWNED = "human_owned"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"
    RECENTLY_PURCHASED = "recently_purchased"
    WHATSAPP_OUTSIDE_WINDOW = "whatsapp_outside_window"
    WHATSAPP_TEMPLATE_REQUIRED = "whatsapp_template_required"
    HOLDOUT = "holdout"
    DISCOUNT_ABOVE_CEILING = "discount_above_ceiling"
    FULL_PRICE_BUYER = "full_price_buyer"
    DISCOUNT_NEEDS_APPROVAL = "discount_needs_approval"
    CHANNEL_NOT_CONFIGURED = "channel_not_configured"
    NOTHING_TO_SHOW = "nothing_to_show"
    NOT_IN_AUDIENCE = "not_in_audience"
    PROGRAM_CONFLICT = "program_conflict"
    ALREADY_MESSAGED = "already_messaged"  # logged before repeats were measured (0012)
    EPISODE_HELD_OUT = "episode_held_out"


class Action(BaseModel):
    """What someone (a trigger, the agent) wants to do for a customer."""

    model_config = ConfigDict(frozen=True)

    program: str = Field(description="e.g. cart_abandoned, win_back, agent_follow_up")
    purpose: ConsentPurpose = ConsentPurpose.MARKETING
    promotion: bool = Field(default=True, description="Promotes products: suppressed if bought")
    product_ids: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    discount_percent: float | None = Field(default=None, ge=0, le=100)
    free_text: bool = Field(default=True, description="WhatsApp: session text, not a template")
    automated: bool = Field(default=True, description="Sent by automation, not a human agent")


class Reason(BaseModel):
    code: ReasonCode
    blocking: bool
    detail: str


class Verdict(BaseModel):
    allowed: bool
    reasons: list[Reason]
    held_out: bool = False
    requires_template: bool = False
    requires_approval: bool = False
    retry_at: datetime | None = Field(
        default=None, description="When the blocking reasons lift by themselves (caps, hours)"
    )

    @property
    def codes(self) -> list[ReasonCode]:
        return [r.code for r in self.reasons]


def holdout_bucket(customer_id: str, program: str) -> float:
    """A stable number in [0, 100) per customer and program: the same customer is always in or
    out of a program's holdout, and independent across programs."""
    digest = hashlib.sha256(f"{program}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def evaluate(
    ctx: CustomerContext, action: Action, channel: Channel, at: datetime, rules: Guardrails
) -> Verdict:
    """Every rule, every reason; allowed only if no reason blocks."""
    reasons: list[Reason] = []
    # When each blocking reason lifts by itself; None for one that never does (an opt-out, a
    # program switched off, a cap of zero).
    lifts_at: list[datetime | None] = []

    def block(code: ReasonCode, detail: str, until: datetime | None = None) -> None:
        reasons.append(Reason(code=code, blocking=True, detail=detail))
        lifts_at.append(until)

    def note(code: ReasonCode, detail: str, until: datetime | None = None) -> None:
        reasons.append(Reason(code=code, blocking=False, detail=detail))

    program = rules.program(action.program)
    if action.automated and not program.enabled:
        block(ReasonCode.PROGRAM_DISABLED, f"program {action.program!r} is switched off")
    if channel not in ctx.reachable:
        block(ReasonCode.NO_ADDRESS, f"no {channel.value} address on the profile")

    _check_consent(ctx, action, channel, block)
    if action.automated and any(c.owner != "bot" for c in ctx.conversations):
        block(ReasonCode.HUMAN_OWNED, "a person is handling this customer's conversation")
    if action.automated:
        _check_caps(ctx, action, channel, at, rules, block)
        _check_quiet_hours(ctx, action, at, rules, block)
    if action.promotion:
        _check_purchases(ctx, action, at, rules, block)

    requires_template = False
    if channel is Channel.WHATSAPP and action.free_text:
        conversation = ctx.conversation(Channel.WHATSAPP)
        last = conversation.last_inbound_at if conversation else None
        if last is None or at - last >= rules.whatsapp_window:
            if program.whatsapp_template is not None:
                requires_template = True
                note(ReasonCode.WHATSAPP_TEMPLATE_REQUIRED, "outside the 24-hour window")
            else:
                block(
                    ReasonCode.WHATSAPP_OUTSIDE_WINDOW,
                    "outside the 24-hour window and no approved template for this program",
                )

    held_out = False
    if action.automated and program.holdout_percent > 0:
        bucket = holdout_bucket(ctx.customer_id, action.program)
        if bucket < program.holdout_percent:
            held_out = True
            block(
                ReasonCode.HOLDOUT,
                f"in the {program.holdout_percent:g}% holdout of {action.program!r}",
            )

    requires_approval = False
    if action.discount_percent is not None:
        requires_approval = _check_discount(ctx, action.discount_percent, rules, block, note)

    allowed = not any(r.blocking for r in reasons)
    # A retry time only helps when everything blocking lifts by itself.
    lift_times = [t for t in lifts_at if t is not None]
    lifts = bool(lifts_at) and len(lift_times) == len(lifts_at)
    return Verdict(
        allowed=allowed,
        reasons=reasons,
        held_out=held_out,
        requires_template=requires_template,
        requires_approval=requires_approval,
        retry_at=max(lift_times) if lifts and not allowed else None,
    )


def _check_consent(ctx: CustomerContext, action: Action, channel: Channel, block: _Block) -> None:
    status = ctx.consent(channel, action.purpose)
    if action.purpose is ConsentPurpose.MARKETING:
        # Marketing needs an explicit opt-in on the channel.
        if status is ConsentStatus.REVOKED:
            block(ReasonCode.CONSENT_REVOKED, f"opted out of marketing on {channel.value}")
        elif status is None:
            block(ReasonCode.CONSENT_MISSING, f"no marketing consent on {channel.value}")
    elif status is ConsentStatus.REVOKED:
        # Transactional messages go unless the customer opted out of the channel altogether.
        block(ReasonCode.CONSENT_REVOKED, f"opted out of {channel.value}")


def _check_caps(
    ctx: CustomerContext,
    action: Action,
    channel: Channel,
    at: datetime,
    rules: Guardrails,
    block: _Block,
) -> None:
    for cap in rules.frequency_caps:
        if cap.purpose != action.purpose or (cap.channel is not None and cap.channel != channel):
            continue
        sent = sorted(
            s.sent_at
            for s in ctx.sends
            if s.purpose == cap.purpose
            and (cap.channel is None or s.channel == cap.channel)
            and at - cap.window < s.sent_at <= at
        )
        if len(sent) >= cap.max_messages:
            where = cap.channel.value if cap.channel else "all channels"
            # The window frees a slot when enough of the oldest sends have aged out of it.
            frees_at = sent[len(sent) - cap.max_messages] + cap.window if cap.max_messages else None
            block(
                ReasonCode.FREQUENCY_CAP,
                f"{len(sent)} {cap.purpose.value} message(s) on {where} in the last "
                f"{_human(cap.window)}; the cap is {cap.max_messages}",
                frees_at,
            )


def _check_quiet_hours(
    ctx: CustomerContext, action: Action, at: datetime, rules: Guardrails, block: _Block
) -> None:
    quiet = rules.quiet_hours
    zone = customer_zone(ctx.timezone, ctx.phone, quiet.default_timezone)
    local = at.astimezone(zone)
    if action.purpose in quiet.purposes and in_window(local.time(), quiet.start, quiet.end):
        block(
            ReasonCode.QUIET_HOURS,
            f"{local:%H:%M} in {zone.key} is within quiet hours "
            f"{quiet.start:%H:%M}-{quiet.end:%H:%M}",
            next_local(at, zone, quiet.end),
        )
    own = ctx.own_quiet_hours
    # The customer's own hours hold for every automated message, whatever its purpose.
    if own is not None and in_window(local.time(), own.start, own.end):
        block(
            ReasonCode.QUIET_HOURS,
            f"{local:%H:%M} in {zone.key} is within the customer's own quiet hours "
            f"{own.start:%H:%M}-{own.end:%H:%M}",
            next_local(at, zone, own.end),
        )


def _check_purchases(
    ctx: CustomerContext, action: Action, at: datetime, rules: Guardrails, block: _Block
) -> None:
    suppression = rules.purchase_suppression
    since = at - timedelta(days=suppression.days)
    recent = [p for p in ctx.purchases if p.last_purchased_at > since]
    bought = {p.product_id for p in recent} & set(action.product_ids)
    if bought:
        block(
            ReasonCode.RECENTLY_PURCHASED,
            f"bought {', '.join(sorted(bought))} within {suppression.days} days",
        )
    if suppression.scope == "category":
        wanted = {key for c in action.categories if (key := category_key(c))}
        categories = {key for p in recent if (key := category_key(p.category))} & wanted
        if categories:
            block(
                ReasonCode.RECENTLY_PURCHASED,
                f"bought from {', '.join(sorted(categories))} within {suppression.days} days",
            )


def _check_discount(
    ctx: CustomerContext, percent: float, rules: Guardrails, block: _Block, note: _Block
) -> bool:
    policy = rules.discounts
    ceiling = policy.ceiling(ctx.loyalty_tier)
    if percent > ceiling:
        block(
            ReasonCode.DISCOUNT_ABOVE_CEILING,
            f"{percent:g}% is above the {ceiling:g}% ceiling for tier "
            f"{ctx.loyalty_tier or 'default'}",
        )
    if (
        percent > 0
        and ctx.order_count >= 3
        and ctx.discounted_order_count / ctx.order_count <= policy.full_price_buyer_share
    ):
        block(
            ReasonCode.FULL_PRICE_BUYER,
            f"{ctx.order_count - ctx.discounted_order_count} of {ctx.order_count} orders "
            "at full price: no discount needed",
        )
    if percent > policy.approval_threshold and percent <= ceiling:
        note(
            ReasonCode.DISCOUNT_NEEDS_APPROVAL,
            f"{percent:g}% is above the {policy.approval_threshold:g}% approval threshold",
        )
        return True
    return False


def _human(window: timedelta) -> str:
    if window % timedelta(days=1) == timedelta(0):
        return f"{window.days} day(s)"
    return f"{window.total_seconds() / 3600:g} hour(s)"


class _Block(Protocol):
    """The shape of the ``block``/``note`` callbacks."""

    def __call__(self, code: ReasonCode, detail: str, until: datetime | None = None) -> None: ...
