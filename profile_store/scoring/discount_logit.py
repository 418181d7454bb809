"""Discount response: would a discount change whether this customer buys?

An L2-regularised logistic regression (ridge logistic, le Cessie & van Houwelingen 1992,
"Ridge Estimators in Logistic Regression", Applied Statistics 41(1):191-201) on the shop's own
decision log: each message sent is one example, its outcome (converted or not) the label. The
features are the customer's, and the same features again multiplied by "the message carried a
discount", so the model learns for whom the discount matters. A customer's sensitivity is the
modelled conversion with a discount minus without (a two-model-in-one uplift estimate).

The fit also keeps the Laplace approximation of the weights' posterior (the ridge penalty is a
Gaussian prior; the covariance is the inverse Hessian at the optimum, Bishop 2006, "Pattern
Recognition and Machine Learning", section 4.5), so a decision can draw a sensitivity from it
as in Thompson sampling for logistic models (Chapelle & Li 2011, "An Empirical Evaluation of
Thompson Sampling"), and rule a discount out only where the model is confident: a customer the
point estimate rules out, but the data do not, can still get one, and the model sees what it
does for such customers instead of learning only from the ones it already favoured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, PrivateAttr
from scipy.optimize import minimize
from scipy.special import expit

Array = NDArray[np.float64]
FEATURES = ("intercept", "orders_log", "discounted_share", "recency_years")


class LogitParams(BaseModel):
    weights: list[float]  # base weights, then the discount-interaction weights
    examples: int = 0
    covariance: list[list[float]] | None = None  # of the weights (Laplace); None: fitted before
    _root: Array | None = PrivateAttr(default=None)  # of the covariance, made at the first draw


def features(order_count: int, discounted_orders: int, recency_days: float | None) -> list[float]:
    share = (discounted_orders + 0.5) / (order_count + 1.0)  # smoothed: no orders says little
    recency = min(recency_days if recency_days is not None else 365.0, 365.0) / 365.0
    return [1.0, math.log1p(order_count), share, recency]


def design(base: Array, discounted: Array) -> Array:
    """Rows of [features, discount * features]."""
    return np.hstack([base, base * discounted[:, None]])


def _sigmoid(z: Array) -> Array:
    return expit(z)  # no overflow for a wild posterior draw


def fit(base: Array, discounted: Array, converted: Array, l2: float = 1.0) -> LogitParams:
    """Penalised maximum likelihood (the intercept is not penalised), with its exact gradient."""
    matrix = design(base, discounted)
    penalty = np.ones(matrix.shape[1])
    penalty[0] = 0.0

    def loss(w: Array) -> tuple[float, Array]:
        z = matrix @ w
        nll = float(np.sum(np.logaddexp(0.0, z) - converted * z))
        grad = matrix.T @ (_sigmoid(z) - converted)
        return nll + 0.5 * l2 * float(np.sum(penalty * w * w)), grad + l2 * penalty * w

    result = minimize(loss, np.zeros(matrix.shape[1]), jac=True, method="L-BFGS-B")
    p = _sigmoid(matrix @ result.x)
    hessian = (matrix.T * (p * (1 - p))) @ matrix + l2 * np.diag(penalty)
    # The unpenalised intercept can make the Hessian singular on degenerate data: a pseudo-
    # inverse keeps the fit usable (that direction is then simply not sampled).
    covariance = np.linalg.pinv(hessian, hermitian=True)
    return LogitParams(
        weights=[float(v) for v in result.x],
        examples=len(converted),
        covariance=[[float(v) for v in row] for row in covariance],
    )


def uplift(params: LogitParams, base: Sequence[float]) -> float:
    """Modelled conversion with a discount minus without (plain floats: this runs per event)."""
    w = params.weights
    half = len(w) // 2
    without = sum(f * v for f, v in zip(base, w[:half], strict=True))
    with_discount = without + sum(f * v for f, v in zip(base, w[half:], strict=True))
    return 1.0 / (1.0 + math.exp(-with_discount)) - 1.0 / (1.0 + math.exp(-without))


def sampled_uplifts(
    params: LogitParams, base: Sequence[float], rng: random.Random, draws: int
) -> list[float]:
    """The uplift under ``draws`` draws of the weights from their posterior; the point estimate
    (every time) when the fit kept no covariance."""
    if params.covariance is None:
        return [uplift(params, base)] * draws
    if params._root is None:
        # An eigen-decomposition rather than Cholesky: a pseudo-inverse may be singular.
        values, vectors = np.linalg.eigh(np.array(params.covariance))
        params._root = vectors * np.sqrt(np.clip(values, 0.0, None))
    mean = np.array(params.weights)
    # Seeded from the caller's stream, so a seeded decision repeats exactly.
    normal = np.random.default_rng(rng.getrandbits(64)).standard_normal((draws, len(mean)))
    weights = mean + normal @ params._root.T
    half = len(mean) // 2
    features = np.asarray(base, dtype=float)
    without = weights[:, :half] @ features
    with_discount = without + weights[:, half:] @ features
    return [float(v) for v in _sigmoid(with_discount) - _sigmoid(without)]
