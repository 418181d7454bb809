"""Discount response: would a discount change whether this customer buys?

An L2-regularised logistic regression (ridge logistic, le Cessie & van Houwelingen 1992,
"Ridge Estimators in Logistic Regression", Applied Statistics 41(1):191-201) on the shop's own
decision log: each message sent is one example, its outcome (converted or not) the label. The
features are the customer's, and the same features again multiplied by "the message carried a
discount", so the model learns for whom the discount matters. A customer's sensitivity is the
modelled conversion with a discount minus without (a two-model-in-one uplift estimate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy.optimize import minimize

Array = NDArray[np.float64]
FEATURES = ("intercept", "orders_log", "discounted_share", "recency_years")


class LogitParams(BaseModel):
    weights: list[float]  # base weights, then the discount-interaction weights
    examples: int = 0


def features(order_count: int, discounted_orders: int, recency_days: float | None) -> list[float]:
    share = (discounted_orders + 0.5) / (order_count + 1.0)  # smoothed: no orders says little
    recency = min(recency_days if recency_days is not None else 365.0, 365.0) / 365.0
    return [1.0, math.log1p(order_count), share, recency]


def design(base: Array, discounted: Array) -> Array:
    """Rows of [features, discount * features]."""
    return np.hstack([base, base * discounted[:, None]])


def _sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


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
    return LogitParams(weights=[float(v) for v in result.x], examples=len(converted))


def uplift(params: LogitParams, base: Sequence[float]) -> float:
    """Modelled conversion with a discount minus without (plain floats: this runs per event)."""
    w = params.weights
    half = len(w) // 2
    without = sum(f * v for f, v in zip(base, w[:half], strict=True))
    with_discount = without + sum(f * v for f, v in zip(base, w[half:], strict=True))
    return 1.0 / (1.0 + math.exp(-with_discount)) - 1.0 / (1.0 + math.exp(-without))
