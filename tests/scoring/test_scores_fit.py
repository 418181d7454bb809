"""The scoring models recover the parameters of data drawn from them; cold start uses priors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from profile_store.scoring import bgnbd, discount_logit, gamma_gamma
from profile_store.scoring.evaluate import score
from profile_store.scoring.features import history
from profile_store.scoring.params import PRIOR_PARAMS, PRIOR_VERSION, ScoreModelParams
from profile_store.traits import TraitState

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def simulate_bgnbd(
    rng: np.random.Generator, n: int, true: bgnbd.BgNbdParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lam = rng.gamma(true.r, 1 / true.alpha, n)
    drop = rng.beta(true.a, true.b, n)
    big_t = rng.uniform(180, 540, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > big_t[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < drop[i]:
                break
    return x, t_x, big_t


def test_bgnbd_recovers_known_parameters() -> None:
    true = bgnbd.BgNbdParams(r=0.8, alpha=40.0, a=0.9, b=3.0)
    x, t_x, big_t = simulate_bgnbd(np.random.default_rng(7), 4000, true)
    fitted = bgnbd.fit(x, t_x, big_t)
    # r/alpha (the mean purchase rate) is well identified; a and b less so.
    assert abs(fitted.r / fitted.alpha - true.r / true.alpha) / (true.r / true.alpha) < 0.1
    assert abs(fitted.r - true.r) / true.r < 0.2
    assert abs(fitted.a / (fitted.a + fitted.b) - 0.9 / 3.9) < 0.06


def test_gamma_gamma_recovers_known_parameters() -> None:
    rng = np.random.default_rng(11)
    p, q, gamma = 6.0, 4.0, 15.0
    n = 5000
    nu = rng.gamma(q, 1 / gamma, n)
    x = rng.integers(1, 8, n).astype(float)
    m = np.array([rng.gamma(p, 1 / nu[i], int(x[i])).mean() for i in range(n)])
    fitted = gamma_gamma.fit(x, m, "USD")
    assert abs(fitted.p - p) / p < 0.15
    assert abs(fitted.q - q) / q < 0.2
    assert abs(fitted.p * fitted.gamma / (fitted.q - 1) - p * gamma / (q - 1)) / 30 < 0.05


def test_ridge_logistic_recovers_weights_and_uplift() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    base = np.column_stack(
        [np.ones(n), rng.uniform(0, 3, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)]
    )
    offered = (rng.random(n) < 0.5).astype(float)
    true = np.array([-2.0, 0.3, -0.5, -1.0, 0.2, 0.0, 1.5, 0.0])
    z = discount_logit.design(base, offered) @ true
    converted = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    fitted = discount_logit.fit(base, offered, converted, l2=0.1)
    assert np.max(np.abs(np.array(fitted.weights) - true)) < 0.35
    keen = [1.0, 1.0, 0.9, 0.2]
    indifferent = [1.0, 1.0, 0.0, 0.2]
    assert discount_logit.uplift(fitted, keen) > discount_logit.uplift(fitted, indifferent)


def _simulated_messages(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.column_stack(
        [np.ones(n), rng.uniform(0, 3, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)]
    )
    offered = (rng.random(n) < 0.5).astype(float)
    z = discount_logit.design(base, offered) @ TRUE_WEIGHTS
    return base, offered, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)


TRUE_WEIGHTS = np.array([-2.0, 0.3, -0.5, -1.0, 0.2, 0.0, 1.5, 0.0])


def test_the_posterior_narrows_with_data_and_covers_the_truth() -> None:
    keen = [1.0, 1.0, 0.9, 0.2]
    truth = float(
        1 / (1 + np.exp(-(np.dot(keen, TRUE_WEIGHTS[:4]) + np.dot(keen, TRUE_WEIGHTS[4:]))))
        - 1 / (1 + np.exp(-np.dot(keen, TRUE_WEIGHTS[:4])))
    )
    spread = {}
    for n in (400, 20000):
        fitted = discount_logit.fit(*_simulated_messages(n, seed=n), l2=0.1)
        assert fitted.covariance is not None
        rng = random.Random(5)
        draws = sorted(discount_logit.sampled_uplifts(fitted, keen, rng, 1000))
        low, high = draws[25], draws[974]
        assert low < truth < high  # the 95% range of the draws holds the true uplift
        spread[n] = high - low
    assert spread[20000] < spread[400] / 3


def test_a_model_fitted_before_the_posterior_was_kept_samples_its_estimate() -> None:
    old = discount_logit.LogitParams(weights=list(TRUE_WEIGHTS), examples=100)
    keen = [1.0, 1.0, 0.9, 0.2]
    point = discount_logit.uplift(old, keen)
    assert discount_logit.sampled_uplifts(old, keen, random.Random(1), 3) == [point] * 3


def _buyer(orders: int, discounted: int = 0) -> TraitState:
    first = NOW - timedelta(days=60)
    last = NOW - timedelta(days=5)
    return TraitState(
        customer_id="c1",
        first_seen_at=first,
        last_seen_at=last,
        last_order_at=last,
        order_count=orders,
        discounted_order_count=discounted,
        spent={"USD": 50.0 * orders},
        purchased_products={
            "sku-1": {"count": orders, "first_at": first.isoformat(), "last_at": last.isoformat()}
        },
    )


def test_cold_start_uses_priors_and_says_so() -> None:
    scores = score(history(_buyer(3), NOW), PRIOR_PARAMS)
    assert set(scores) == {
        "purchase_propensity_7d",
        "churn_risk_90d",
        "discount_sensitivity",
        "expected_value_90d",
    }
    for view in scores.values():
        assert view.model_version == PRIOR_VERSION
        assert "priors" in view.explanation
    assert scores["purchase_propensity_7d"].explanation.startswith(
        "bought 3 times in 60 days, last 5 days ago"
    )
    assert 0 < scores["purchase_propensity_7d"].value < 1
    assert scores["discount_sensitivity"].value == 0.0  # a full-price buyer
    prospect = score(history(TraitState(customer_id="p", first_seen_at=NOW), NOW), PRIOR_PARAMS)
    assert "no order yet" in prospect["purchase_propensity_7d"].explanation


def test_a_fitted_model_names_its_version_and_a_lapsed_buyer_is_at_risk() -> None:
    params = ScoreModelParams(
        version="fit-x", bgnbd=bgnbd.BgNbdParams(r=0.8, alpha=40.0, a=0.9, b=3.0)
    )
    recent = score(history(_buyer(6), NOW), params)
    lapsed_state = _buyer(6)
    lapsed_state.last_order_at = NOW - timedelta(days=55)
    lapsed = score(history(lapsed_state, NOW), params)
    assert recent["churn_risk_90d"].model_version == "bgnbd@fit-x"
    assert "priors" not in recent["churn_risk_90d"].explanation
    assert lapsed["churn_risk_90d"].value > recent["churn_risk_90d"].value
    assert lapsed["purchase_propensity_7d"].value < recent["purchase_propensity_7d"].value


def test_a_week_of_orders_fits_nothing_usable_and_training_keeps_the_prior() -> None:
    """Buyers seen for days, not months, drive BG/NBD to the edge of its space; such a fit is
    named and refused rather than scoring everyone as lapsed (or as NaN)."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, 60).astype(float)
    big_t = rng.uniform(0.5, 7, 60)
    t_x = np.where(x > 0, big_t * rng.uniform(0, 1, 60), 0.0)
    fitted = bgnbd.fit(x, t_x, big_t)
    if bgnbd.implausible(fitted) is None:  # the optimiser may land inside the bounds
        views = score(history(_buyer(2), NOW), ScoreModelParams(version="v", bgnbd=fitted))
        assert all(np.isfinite(v.value) for v in views.values())
    degenerate = bgnbd.BgNbdParams(r=5.0, alpha=1e-6, a=900.0, b=1e-4)
    assert "alpha" in (bgnbd.implausible(degenerate) or "")
    assert bgnbd.implausible(bgnbd.PRIOR) is None


def test_a_score_that_is_not_a_number_falls_back_to_the_priors() -> None:
    broken = ScoreModelParams(
        version="fit-y", bgnbd=bgnbd.BgNbdParams(r=float("nan"), alpha=1.0, a=2.0, b=2.0)
    )
    views = score(history(_buyer(3), NOW), broken)
    assert all(np.isfinite(v.value) for v in views.values())
    assert views["churn_risk_90d"].model_version == PRIOR_VERSION
