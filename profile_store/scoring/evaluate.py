"""One customer's four scores from the live parameters, in closed form (no fitting here).

Cheap enough for the ingest path: a few exponentials and one hypergeometric function.
"""

from __future__ import annotations

import math

from profile_store.scoring import bgnbd, gamma_gamma
from profile_store.scoring.discount_logit import features, uplift
from profile_store.scoring.features import History
from profile_store.scoring.params import (
    PRIOR_FIRST_ORDER_RATE,
    PRIOR_MAX_DISCOUNT_UPLIFT,
    PRIOR_VERSION,
    ScoreModelParams,
)
from profile_store.scoring.views import ScoreView

COLD = " (too little shop history to fit yet: published priors)"


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _ago(days: float) -> str:
    whole = round(days)
    return "today" if whole == 0 else "1 day ago" if whole == 1 else f"{whole} days ago"


def _version(part: object, params: ScoreModelParams, name: str) -> str:
    return f"{name}@{params.version}" if part is not None else PRIOR_VERSION


def _main_currency(spent: dict[str, float], preferred: str | None) -> str | None:
    if preferred and preferred in spent:
        return preferred
    return max(spent, key=lambda c: spent[c]) if spent else preferred


def score(h: History, params: ScoreModelParams) -> dict[str, ScoreView]:
    """The four scores with their explanations. A fitted model that cannot score this history
    (a number that is not finite) gives way to the priors: ingestion must never fail on it."""
    views = _score(h, params)
    if all(math.isfinite(v.value) for v in views.values()):
        return views
    return _score(h, ScoreModelParams(version=params.version))


def _score(h: History, params: ScoreModelParams) -> dict[str, ScoreView]:
    money = params.gamma_gamma or gamma_gamma.PRIOR
    currency = _main_currency(h.spent, money.currency)
    value_version = _version(params.gamma_gamma, params, "gamma-gamma")
    if h.first_order_days is None:
        rate = params.first_order_rate or PRIOR_FIRST_ORDER_RATE
        version = _version(params.first_order_rate, params, "first-order-rate")
        p7 = 1 - math.exp(-rate * 7)
        p90 = 1 - math.exp(-rate * 90)
        cold = COLD if params.first_order_rate is None else ""
        seen = f"first seen {_ago(h.first_seen_days)}, no order yet"
        order_value = gamma_gamma.expected_order_value(money, 0, 0.0)
        purchase = ScoreView.model_construct(
            value=round(p7, 4),
            explanation=f"{seen}; new shoppers here order at {p7:.1%} a week{cold}",
            model_version=version,
        )
        churn = ScoreView.model_construct(
            value=round(1 - p90, 4),
            explanation=f"{seen}: {1 - p90:.0%} chance of no first order in 90 days{cold}",
            model_version=version,
        )
        expected = p90 * order_value
        value_words = f"{p90:.0%} chance of a first order, worth about {order_value:.2f}"
    else:
        model = params.bgnbd or bgnbd.PRIOR
        version = _version(params.bgnbd, params, "bgnbd")
        cold = COLD if params.bgnbd is None else ""
        x, t_x, big_t = float(h.repeats), h.t_x, h.first_order_days
        alive = bgnbd.p_alive(model, x, t_x, big_t)
        p7 = bgnbd.p_purchase_within(model, x, t_x, big_t, 7)
        p90 = bgnbd.p_purchase_within(model, x, t_x, big_t, 90)
        span = max(round(big_t), 1)
        bought = f"bought {_times(h.orders)} in {span} days, last {_ago(h.last_order_days or 0.0)}"
        purchase = ScoreView.model_construct(
            value=round(p7, 4),
            explanation=f"{bought}; {alive:.0%} likely still an active customer{cold}",
            model_version=version,
        )
        churn = ScoreView.model_construct(
            value=round(1 - p90, 4),
            explanation=(
                f"{bought}: {1 - p90:.0%} chance of no order in the next 90 days "
                f"({1 - alive:.0%} chance they have already lapsed){cold}"
            ),
            model_version=version,
        )
        orders_90 = bgnbd.expected_purchases(model, x, t_x, big_t, 90)
        mean = h.spent.get(currency, 0.0) / h.orders if currency else 0.0
        order_value = (
            gamma_gamma.expected_order_value(money, h.orders, mean)
            if mean
            else (gamma_gamma.expected_order_value(money, 0, 0.0))
        )
        expected = orders_90 * order_value
        value_words = f"about {orders_90:.1f} orders in 90 days at about {order_value:.2f} each"
    money_cold = COLD if params.gamma_gamma is None else ""
    value = ScoreView.model_construct(
        value=round(expected, 2),
        explanation=f"{value_words} {currency or ''}".rstrip() + money_cold,
        model_version=f"{version}+{value_version}"
        if version != PRIOR_VERSION or value_version != PRIOR_VERSION
        else PRIOR_VERSION,
    )
    return {
        "purchase_propensity_7d": purchase,
        "churn_risk_90d": churn,
        "discount_sensitivity": _discount(h, params),
        "expected_value_90d": value,
    }


def _discount(h: History, params: ScoreModelParams) -> ScoreView:
    share = f"{h.discounted_orders} of {h.orders} orders on a discount"
    if params.discount is None:
        # Before the model has data, only a shopper's own discounted orders suggest a discount
        # helps: a full-price buyer would be given it away, and nothing is assumed about
        # someone who has not ordered yet (so a first cart reminder carries no code).
        smoothed = (h.discounted_orders + 0.5) / (h.orders + 1.0) if h.discounted_orders else 0.0
        if not h.orders:
            share = "no orders yet, so no sign a discount would help"
        return ScoreView.model_construct(
            value=round(PRIOR_MAX_DISCOUNT_UPLIFT * smoothed, 4),
            explanation=f"{share}{COLD}",
            model_version=PRIOR_VERSION,
        )
    lift = uplift(params.discount, features(h.orders, h.discounted_orders, h.last_order_days))
    words = "more likely" if lift >= 0 else "less likely"
    return ScoreView.model_construct(
        value=round(lift, 4),
        explanation=(
            f"{share}; shoppers like this are {abs(lift):.1%} {words} to buy when offered a "
            f"discount (learned from {params.discount.examples} messages)"
        ),
        model_version=f"discount-logit@{params.version}",
    )
