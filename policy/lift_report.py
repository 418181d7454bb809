"""Did the automated programs earn their messages? Sent versus held-out conversion, per program.

Each program's holdout (customers the guardrails deliberately left alone) is the control group:
the difference between the treated and holdout conversion rates is what the messages added,
with a confidence interval so that a small sample is not read as a win. Conversions are counted
from the order events themselves, not from decision outcomes, because attribution overwrites an
outcome with "converted" and forgets whether the message had been sent.

Revenue sums order totals as they are: one store currency is assumed (``currencies`` lists the
ones seen, so a reader can tell when that does not hold).

Known bias: the treated group holds only messages that were actually sent, while the holdout
holds every held-out decision, including some that the send-time re-check would have dropped
(a purchase before the send cancels a reminder). Those customers converted without a message,
so the lift shown is, if anything, an underestimate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.action_choice import AUTOMATED_ACTIONS
from policy.outcomes import DELIVERED, RESPONSES
from policy.triggers import ATTRIBUTION_WINDOW
from profile_store.models import Decision, Event

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
CONFIDENCE = 0.95
SENT = DELIVERED
# Customers per order query: well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500


class Interval(BaseModel):
    lower: float
    upper: float
    level: float = CONFIDENCE


class GroupStats(BaseModel):
    """One side of the comparison; rates are None for an empty group (nothing to divide by)."""

    customers: int
    conversions: int
    conversion_rate: float | None
    revenue: float
    revenue_per_recipient: float | None


class Lift(BaseModel):
    """Treated minus holdout conversion rate; ``relative`` is that over the holdout rate."""

    absolute: float | None
    interval: Interval | None
    relative: float | None
    significant: bool


class MessageCounts(BaseModel):
    """Decisions (not customers) of one program; a suppressed decision counts once under each
    distinct blocking reason, so ``suppressed_by_reason`` may add up to more than
    ``suppressed``."""

    decisions: int = 0
    sent: int = 0
    suppressed: int = 0
    suppressed_by_reason: dict[str, int] = {}
    held_out: int = 0
    cancelled: int = 0
    failed: int = 0
    pending: int = 0
    skipped: int = Field(default=0, description="next-best-action chose to do nothing")


class SegmentLift(BaseModel):
    """One slice of a program's treated customers (a copy variant, an action, an audience)
    against its holdout: the whole holdout for variants and actions (the holdout got neither),
    the audience's own held-out customers for audiences."""

    segment: str
    treated: GroupStats
    holdout: GroupStats
    lift: Lift
    responses: int  # first messages clicked or answered (or followed by an order)


class ProgramLift(BaseModel):
    program: str
    treated: GroupStats
    holdout: GroupStats
    lift: Lift
    messages: MessageCounts
    variants: list[SegmentLift] = []
    actions: list[SegmentLift] = []
    audiences: list[SegmentLift] = []


@dataclass(frozen=True, slots=True)
class _Anchor:
    """A customer's first sent or held-out decision of a program in the period."""

    held_out: bool
    at: datetime
    variant: str | None
    action: str
    audience: str
    responded: bool


class LiftReport(BaseModel):
    since: datetime
    until: datetime
    attribution_window_days: float
    currencies: list[str]
    programs: list[ProgramLift]


@dataclass(frozen=True, slots=True)
class _Order:
    at: datetime
    total: Decimal
    currency: str | None


def difference_interval(conv_t: int, n_t: int, conv_h: int, n_h: int) -> Interval | None:
    """Wald (normal approximation) interval for the treated minus holdout conversion rate.

    None when either group is empty. Simple and standard; with few customers or rates near
    0 or 1 it is too narrow, so read it as a guide, not a verdict.
    """
    if n_t <= 0 or n_h <= 0:
        return None
    if not (0 <= conv_t <= n_t and 0 <= conv_h <= n_h):
        raise ValueError("conversions must be between 0 and the group size")
    p_t, p_h = conv_t / n_t, conv_h / n_h
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)
    z = NormalDist().inv_cdf((1 + CONFIDENCE) / 2)
    diff = p_t - p_h
    return Interval(lower=diff - z * se, upper=diff + z * se)


def lift(treated: GroupStats, holdout: GroupStats) -> Lift:
    """Compare two groups; significant when the interval leaves out zero."""
    interval = difference_interval(
        treated.conversions, treated.customers, holdout.conversions, holdout.customers
    )
    p_t, p_h = treated.conversion_rate, holdout.conversion_rate
    absolute = p_t - p_h if p_t is not None and p_h is not None else None
    relative = absolute / p_h if absolute is not None and p_h else None
    return Lift(
        absolute=absolute,
        interval=interval,
        relative=relative,
        significant=interval is not None and (interval.lower > 0 or interval.upper < 0),
    )


async def lift_report(session: AsyncSession, *, since: datetime, until: datetime) -> LiftReport:
    """Automated programs' decisions created in [since, until), with their conversions.

    Each customer is counted once per program, in the group of their first sent or held-out
    decision of the period; an order converts them if it comes within the attribution window
    after that decision (the same window that marks decisions converted).
    """
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(
                DECISIONS.c.customer_id,
                DECISIONS.c.program,
                DECISIONS.c.verdict,
                DECISIONS.c.reasons,
                DECISIONS.c.held_out,
                DECISIONS.c.outcome,
                DECISIONS.c.outcome_reasons,
                DECISIONS.c.created_at,
                DECISIONS.c.variant,
                DECISIONS.c.action,
                DECISIONS.c.details,
            )
            .where(
                DECISIONS.c.created_at >= since,
                DECISIONS.c.created_at < until,
                DECISIONS.c.trigger != "conversation",
                DECISIONS.c.action.in_(sorted(AUTOMATED_ACTIONS)),
            )
            .order_by(DECISIONS.c.created_at, DECISIONS.c.id)
        )
    ).all()
    messages: dict[str, MessageCounts] = defaultdict(MessageCounts)
    # program -> customer -> their first sent or held-out decision; rows come oldest first.
    anchors: dict[str, dict[str, _Anchor]] = defaultdict(dict)
    for row in rows:
        _count_message(messages[row.program], row)
        if (row.held_out or row.outcome in SENT) and row.customer_id not in anchors[row.program]:
            anchors[row.program][row.customer_id] = _Anchor(
                held_out=bool(row.held_out),
                at=row.created_at,
                variant=row.variant,
                action=row.action,
                audience=str((row.details or {}).get("audience") or "everyone"),
                responded=row.outcome in RESPONSES,
            )

    orders = await _orders(
        conn, [(c, (a.held_out, a.at)) for by in anchors.values() for c, a in by.items()]
    )
    currencies: set[str] = set()
    programs = []
    for program in sorted(messages):
        mine = anchors[program]
        windows = {c: _in_window(orders.get(c, []), a.at) for c, a in mine.items()}
        for window in windows.values():
            currencies.update(o.currency for o in window if o.currency)
        treated = _group([w for c, w in windows.items() if not mine[c].held_out])
        holdout = _group([w for c, w in windows.items() if mine[c].held_out])
        programs.append(
            ProgramLift(
                program=program,
                treated=treated,
                holdout=holdout,
                lift=lift(treated, holdout),
                messages=messages[program],
                variants=_segments(mine, windows, holdout, lambda a: a.variant),
                actions=_segments(mine, windows, holdout, lambda a: a.action),
                audiences=_segments(mine, windows, None, lambda a: a.audience),
            )
        )
    return LiftReport(
        since=since,
        until=until,
        attribution_window_days=ATTRIBUTION_WINDOW.total_seconds() / 86400,
        currencies=sorted(currencies),
        programs=programs,
    )


def _segments(
    anchors: dict[str, _Anchor],
    windows: dict[str, list[_Order]],
    holdout: GroupStats | None,
    segment_of: Callable[[_Anchor], str | None],
) -> list[SegmentLift]:
    """Treated customers grouped by ``segment_of``, each against ``holdout`` (or, when None,
    against the held-out customers of the same segment)."""
    by_segment: dict[str, list[str]] = defaultdict(list)
    for customer, anchor in anchors.items():
        name = segment_of(anchor)
        if name is not None:
            by_segment[name].append(customer)
    results = []
    for name, customers in sorted(by_segment.items()):
        treated_ids = [c for c in customers if not anchors[c].held_out]
        if not treated_ids:
            continue
        treated = _group([windows[c] for c in treated_ids])
        control = holdout or _group([windows[c] for c in customers if anchors[c].held_out])
        results.append(
            SegmentLift(
                segment=name,
                treated=treated,
                holdout=control,
                lift=lift(treated, control),
                responses=sum(1 for c in treated_ids if anchors[c].responded),
            )
        )
    return results


def _count_message(counts: MessageCounts, row: Any) -> None:
    """Tally one decision by what became of it."""
    counts.decisions += 1
    if row.held_out:
        counts.held_out += 1
    elif row.outcome in SENT:
        counts.sent += 1
    elif row.outcome == "suppressed":
        counts.suppressed += 1
        # Suppressed when decided: the decision's reasons; at send time: the outcome's.
        reasons = row.reasons if row.verdict == "suppressed" else row.outcome_reasons
        for code in _blocking_codes(reasons) or ["unspecified"]:
            counts.suppressed_by_reason[code] = counts.suppressed_by_reason.get(code, 0) + 1
    elif row.outcome == "cancelled":
        counts.cancelled += 1
    elif row.outcome == "failed":
        counts.failed += 1
    elif row.outcome == "skipped":
        counts.skipped += 1
    elif row.outcome is None:
        counts.pending += 1


def _blocking_codes(reasons: Iterable[dict[str, Any]] | None) -> list[str]:
    """Distinct blocking codes, in first-seen order (a code repeats once per channel)."""
    return list(dict.fromkeys(str(r["code"]) for r in reasons or [] if r.get("blocking")))


async def _orders(
    conn: AsyncConnection, anchors: Sequence[tuple[str, tuple[bool, datetime]]]
) -> dict[str, list[_Order]]:
    """Orders of the anchored customers from the first anchor to the end of the last one's
    window, one per order id (an order sent twice under different event ids counts once)."""
    if not anchors:
        return {}
    starts = [start for _, (_, start) in anchors]
    found: dict[str, dict[str, _Order]] = defaultdict(dict)
    ordered = sorted({customer for customer, _ in anchors})
    for i in range(0, len(ordered), CHUNK):
        rows = await conn.execute(
            select(
                EVENTS.c.event_id, EVENTS.c.customer_id, EVENTS.c.properties, EVENTS.c.occurred_at
            ).where(
                EVENTS.c.customer_id.in_(ordered[i : i + CHUNK]),
                EVENTS.c.type == "order_completed",
                EVENTS.c.occurred_at >= min(starts),
                EVENTS.c.occurred_at < max(starts) + ATTRIBUTION_WINDOW,
            )
        )
        for row in rows:
            props = row.properties or {}
            key = str(props.get("order_id") or row.event_id)
            found[row.customer_id].setdefault(
                key,
                _Order(
                    at=row.occurred_at,
                    total=Decimal(str(props.get("total") or 0)),
                    currency=props.get("currency"),
                ),
            )
    return {customer: list(by_key.values()) for customer, by_key in found.items()}


def _in_window(orders: Sequence[_Order], start: datetime) -> list[_Order]:
    """Orders attributed to a decision at ``start``: [start, start + window), as in triggers."""
    return [o for o in orders if start <= o.at < start + ATTRIBUTION_WINDOW]


def _group(windows: Sequence[Sequence[_Order]]) -> GroupStats:
    """Stats of a group given each customer's attributed orders."""
    customers = len(windows)
    conversions = sum(1 for orders in windows if orders)
    revenue = sum((o.total for orders in windows for o in orders), Decimal(0))
    return GroupStats(
        customers=customers,
        conversions=conversions,
        conversion_rate=conversions / customers if customers else None,
        revenue=float(revenue),
        revenue_per_recipient=float(revenue / customers) if customers else None,
    )
