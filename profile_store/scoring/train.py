"""Fitting the scoring models on the shop's history and re-scoring every customer.

Run by ``chatcommerce scores train`` and on the workers' schedule. Each part is fitted only with
enough data (see ``params``); the rest keep their priors, and the report says which.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from profile_store.models import CustomerTraits, Decision
from profile_store.scoring import bgnbd, discount_logit, gamma_gamma
from profile_store.scoring.features import History, history
from profile_store.scoring.params import (
    MIN_BUYERS,
    MIN_DISCOUNT_EXAMPLES,
    MIN_PER_ARM,
    MIN_PROSPECTS,
    MIN_REPEAT_BUYERS,
    ScoreModelParams,
)
from profile_store.scoring.store import MODELS, save_scores, score_traits
from profile_store.traits import TraitState

TRAITS = CustomerTraits.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
RESCORE_CHUNK = 1000
# Outcomes of a message that went out (policy.outcomes.DELIVERED; policy may not be imported here).
DELIVERED_OUTCOMES = frozenset({"sent", "clicked", "replied", "converted"})


class FitReport(BaseModel):
    version: str
    customers: int
    fitted: dict[str, int]  # part -> customers (or messages) it was fitted on
    priors: list[str]  # parts left on their priors, with why
    rescored: int


def fit_params(
    histories: dict[str, History], examples: Any, version: str
) -> tuple[ScoreModelParams, dict[str, int], list[str]]:
    fitted: dict[str, int] = {}
    priors: list[str] = []
    params = ScoreModelParams(version=version)
    buyers = [h for h in histories.values() if h.first_order_days is not None]
    repeat = sum(1 for h in buyers if h.repeats > 0)
    if len(buyers) >= MIN_BUYERS and repeat >= MIN_REPEAT_BUYERS:
        candidate = bgnbd.fit(
            np.array([h.repeats for h in buyers], dtype=float),
            np.array([h.t_x for h in buyers]),
            np.array([h.first_order_days or 0.0 for h in buyers]),
        )
        problem = bgnbd.implausible(candidate)
        if problem is None:
            params.bgnbd = candidate
            fitted["bgnbd"] = len(buyers)
        else:
            priors.append(f"bgnbd: the fit on {len(buyers)} buyers was degenerate ({problem})")
    else:
        priors.append(
            f"bgnbd: {len(buyers)} buyers, {repeat} repeat "
            f"(needs {MIN_BUYERS} and {MIN_REPEAT_BUYERS})"
        )
    totals: dict[str, int] = {}
    for h in buyers:
        for cur in h.spent:
            totals[cur] = totals.get(cur, 0) + 1
    currency = max(totals, key=lambda c: totals[c]) if totals else None
    spenders = [h for h in buyers if currency and h.spent.get(currency, 0.0) > 0]
    if currency and len(spenders) >= MIN_BUYERS:
        params.gamma_gamma = gamma_gamma.fit(
            np.array([h.orders for h in spenders], dtype=float),
            np.array([h.spent[currency] / h.orders for h in spenders]),
            currency,
        )
        fitted["gamma_gamma"] = len(spenders)
    else:
        priors.append(f"gamma_gamma: {len(spenders)} customers with spend (needs {MIN_BUYERS})")
    exposure = sum(h.first_seen_days - (h.first_order_days or 0.0) for h in histories.values())
    first_orders = len(buyers)
    prospects = len(histories) - first_orders
    if prospects >= MIN_PROSPECTS and exposure > 0:
        params.first_order_rate = first_orders / exposure
        fitted["first_order_rate"] = len(histories)
    else:
        priors.append(f"first_order_rate: {prospects} prospects (needs {MIN_PROSPECTS})")
    base, offered, converted = examples
    arms = int(offered.sum()), int(len(offered) - offered.sum())
    if len(offered) >= MIN_DISCOUNT_EXAMPLES and min(arms) >= MIN_PER_ARM:
        params.discount = discount_logit.fit(base, offered, converted)
        fitted["discount_logit"] = len(offered)
    else:
        priors.append(
            f"discount_logit: {arms[0]} messages with a discount and {arms[1]} without "
            f"(needs {MIN_DISCOUNT_EXAMPLES}, at least {MIN_PER_ARM} each)"
        )
    return params, fitted, priors


async def _discount_examples(conn: AsyncConnection) -> tuple[Any, Any, Any]:
    """Messages that went out, whether they carried a discount, and whether the shopper bought.

    Each example's features are the customer's history as the decision saw it (kept with the
    decision): today's history would include the very order a message brought, and teach the
    model that buyers convert. Decisions made before that was kept are left out."""
    rows = await conn.execute(
        select(DECISIONS.c.details, DECISIONS.c.outcome).where(
            DECISIONS.c.outcome.in_(sorted(DELIVERED_OUTCOMES)), DECISIONS.c.held_out.is_(False)
        )
    )
    base, offered, converted = [], [], []
    for row in rows:
        details = row.details or {}
        then = details.get("customer_at_decision")
        if not isinstance(then, dict):
            continue
        action = details.get("action") or {}
        base.append(
            discount_logit.features(
                int(then.get("orders") or 0),
                int(then.get("discounted_orders") or 0),
                then.get("last_order_days"),
            )
        )
        offered.append(float((action.get("discount_percent") or 0) > 0))
        converted.append(float(row.outcome == "converted"))
    width = len(discount_logit.FEATURES)
    return (
        np.array(base).reshape(-1, width),
        np.array(offered, dtype=float),
        np.array(converted, dtype=float),
    )


async def train(conn: AsyncConnection, now: datetime) -> FitReport:
    """Fit, store the parameters as the live model, and re-score every customer with them."""
    states = [TraitState.from_row(row) for row in await conn.execute(select(TRAITS))]
    histories = {s.customer_id: history(s, now) for s in states}
    version = "fit-" + now.strftime("%Y%m%dT%H%M%S%fZ")
    examples = await _discount_examples(conn)
    params, fitted, priors = fit_params(histories, examples, version)
    await conn.execute(
        insert(MODELS).values(
            version=version,
            customers=len(states),
            params=params.model_dump(mode="json"),
            fitted_at=now,
        )
    )
    for start in range(0, len(states), RESCORE_CHUNK):
        chunk = states[start : start + RESCORE_CHUNK]
        await save_scores(conn, score_traits(chunk, params, now), now)
    return FitReport(
        version=version, customers=len(states), fitted=fitted, priors=priors, rescored=len(states)
    )
