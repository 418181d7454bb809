"""Send time: the hour this customer is most likely to read a message, not too far away.

Most customers have a handful of events, too few to tell their day from chance, so their own
hours are shrunk towards the shop's: a Dirichlet-multinomial estimate whose prior is the share of
all customers' engagement at each *local* hour (empirical Bayes, as in Robbins 1956 and Efron &
Morris 1973), worth as many pseudo-events as best explains how much customers differ from the
shop (``_strength``). A customer with one view at 10:00 is not sent
a message at 19:30 merely because 19:30 is sooner: the shop's shoppers rarely read then. Counts,
the customer's and the shop's, are spread over the neighbouring hours (a 1-2-1 kernel), since an
event at 10:50 says as much about 11:00 as about 10:00. The shop's profile is Laplace-smoothed
too, and used only from ``MIN_SHOP_EVENTS`` events on: before that every allowed hour is equal
and the soonest wins, rather than one shopper's habits setting everyone's hour.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from policy.guardrails import QuietHours
from policy.local_time import in_window

UNIFORM_PRIOR_EVENTS = 24.0  # before the shop has a profile: Laplace, one event per hour
MIN_SHOP_EVENTS = 50
STRENGTH_BOUNDS = (1.0, 500.0)  # of the fitted prior, in events


class HourProfile(BaseModel):
    """The share of the shop's engagement at each local hour (0-23), from ``events`` events,
    and how many events of a customer's own the profile is worth (``strength``)."""

    shares: list[float] = Field(min_length=24, max_length=24)
    events: int = 0
    strength: float = Field(default=UNIFORM_PRIOR_EVENTS, gt=0)


def shop_hours(
    customers: Iterable[tuple[Sequence[int], zoneinfo.ZoneInfo]], at: datetime
) -> HourProfile | None:
    """The shop's local-hour profile from each customer's UTC engagement hours and zone (their
    offset at ``at``), one pseudo-event per hour; None before ``MIN_SHOP_EVENTS`` events."""
    rows = []
    for hours_utc, zone in customers:
        offset = at.astimezone(zone).utcoffset() or timedelta(0)
        shift = round(offset.total_seconds() / 3600)
        rows.append(np.roll(np.asarray(hours_utc, dtype=float), shift))  # index: local hour
    local = np.array(rows).reshape(-1, 24)
    counts = local.sum(axis=0)
    total = int(counts.sum())
    if total < MIN_SHOP_EVENTS:
        return None
    spread = _spread([float(c) for c in counts])
    shares = [(c + 1) / (total + 24) for c in spread]
    return HourProfile(shares=shares, events=total, strength=_strength(local, np.array(shares)))


def _strength(local: NDArray[np.float64], shares: NDArray[np.float64]) -> float:
    """The Dirichlet concentration that best explains how far customers' own hours stray from
    the shop's: maximum marginal likelihood of the Dirichlet-multinomial over customers with two
    events or more (Minka 2000, "Estimating a Dirichlet distribution"). Shoppers who keep hours
    of their own get a weak prior, a shop where everyone reads at lunch a strong one."""
    several = local[local.sum(axis=1) >= 2]
    if len(several) < 10:
        return UNIFORM_PRIOR_EVENTS
    n = several.sum(axis=1)

    def minus_log_likelihood(log_strength: float) -> float:
        a = math.exp(log_strength)
        per_hour = gammaln(a * shares + several) - gammaln(a * shares)
        return -float(np.sum(gammaln(a) - gammaln(a + n)) + np.sum(per_hour))

    low, high = (math.log(b) for b in STRENGTH_BOUNDS)
    best = minimize_scalar(minus_log_likelihood, bounds=(low, high), method="bounded")
    return round(math.exp(float(best.x)), 3)


class SendTimeChoice(BaseModel):
    send_at: datetime
    local_hour: int
    score: float
    reason: str


def choose_send_time(
    engagement_hours_utc: Sequence[int],
    zone: zoneinfo.ZoneInfo,
    quiet: QuietHours,
    earliest: datetime,
    horizon: timedelta = timedelta(hours=24),
    half_life: timedelta = timedelta(hours=12),
    shop: HourProfile | None = None,
) -> SendTimeChoice:
    """The hour, from ``earliest`` to ``earliest + horizon``, where this customer most likely
    reads, outside quiet hours; waiting is discounted (half the value every ``half_life``) so a
    reminder is not pushed to tomorrow for a slightly better hour."""
    own = engagement_hours_utc
    total = sum(own)
    smoothed = _spread(own)
    best: SendTimeChoice | None = None
    start = earliest.astimezone(UTC)
    slot = start
    while slot < start + horizon:
        local = slot.astimezone(zone)
        if not in_window(local.time(), quiet.start, quiet.end):
            prior = shop.shares[local.hour] if shop else 1 / 24
            strength = shop.strength if shop else UNIFORM_PRIOR_EVENTS
            activity = (smoothed[slot.hour] + strength * prior) / (total + strength)
            wait = (slot - start) / half_life
            score = activity * 0.5**wait
            if best is None or score > best.score:
                best = SendTimeChoice(
                    send_at=slot,
                    local_hour=local.hour,
                    score=round(score, 6),
                    reason=_reason(own[slot.hour], total, prior if shop else None),
                )
        # Next whole hour (the first slot keeps earliest's minutes).
        slot = (slot + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if best is None:
        raise ValueError("no allowed hour within the horizon: quiet hours cover all of it")
    return best


def _spread(counts: Sequence[float]) -> list[float]:
    """Each hour's count shared with its neighbours, 1-2-1 (the total is kept)."""
    return [0.5 * counts[h] + 0.25 * (counts[h - 1] + counts[(h + 1) % 24]) for h in range(24)]


def _reason(mine: int, total: int, shop_share: float | None) -> str:
    shop = (
        f"; {shop_share:.0%} of the shop's engagement is at this local hour"
        if shop_share is not None
        else ""
    )
    if total:
        return f"{mine} of {total} engagements at this hour{shop}"
    if shop_share is not None:
        return f"no engagement history: the shop's best allowed hour soon{shop}"
    return "no engagement history: the first allowed hour"
