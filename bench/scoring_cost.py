"""Scoring cost per event: the closed-form evaluation ingestion runs for each touched customer.

Run: `.venv/bin/python -m bench.scoring_cost`. Times ``score(history(traits), params)`` with
fitted parameters (BG/NBD, Gamma-Gamma, first-order rate, discount logit) and with the priors,
for a repeat buyer and a prospect; prints microseconds per evaluation.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from profile_store.scoring.bgnbd import BgNbdParams
from profile_store.scoring.discount_logit import LogitParams
from profile_store.scoring.evaluate import score
from profile_store.scoring.features import history
from profile_store.scoring.gamma_gamma import GammaGammaParams
from profile_store.scoring.params import PRIOR_PARAMS, ScoreModelParams
from profile_store.traits import TraitState

ROUNDS = 20_000
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FITTED = ScoreModelParams(
    version="bench",
    bgnbd=BgNbdParams(r=0.8, alpha=40.0, a=1.4, b=3.0),
    gamma_gamma=GammaGammaParams(p=6.0, q=4.0, gamma=15.0, currency="USD"),
    first_order_rate=0.004,
    discount=LogitParams(weights=[-2.0, 0.3, -0.5, -1.0, 0.2, 0.0, 1.5, 0.0], examples=1000),
)


def _buyer() -> TraitState:
    first, last = NOW - timedelta(days=120), NOW - timedelta(days=9)
    return TraitState(
        customer_id="c",
        first_seen_at=first,
        last_seen_at=last,
        last_order_at=last,
        order_count=4,
        discounted_order_count=1,
        spent={"USD": 210.0},
        purchased_products={
            "a": {"count": 2, "first_at": first.isoformat(), "last_at": last.isoformat()},
            "b": {"count": 2, "first_at": last.isoformat(), "last_at": last.isoformat()},
        },
    )


def per_call_us(traits: TraitState, params: ScoreModelParams) -> float:
    started = time.perf_counter()
    for _ in range(ROUNDS):
        score(history(traits, NOW), params)
    return (time.perf_counter() - started) / ROUNDS * 1e6


def main() -> None:
    prospect = TraitState(customer_id="p", first_seen_at=NOW - timedelta(days=3))
    for name, traits in (("repeat buyer", _buyer()), ("prospect", prospect)):
        for label, params in (("fitted", FITTED), ("priors", PRIOR_PARAMS)):
            print(f"{name:12} {label:6} {per_call_us(traits, params):7.1f} us per evaluation")


if __name__ == "__main__":
    main()
