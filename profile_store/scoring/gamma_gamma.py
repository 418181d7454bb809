"""Gamma-Gamma: how much a customer spends per order.

Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note,
brucehardie.com/notes/025). Order values of a customer are Gamma(p, nu) around their own mean;
``nu ~ Gamma(q, gamma)`` across customers. A customer is summarised by ``x`` orders and their
mean value ``m``; the model assumes spend is independent of how often they buy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy.optimize import minimize
from scipy.special import gammaln

Array = NDArray[np.float64]


class GammaGammaParams(BaseModel):
    p: float
    q: float
    gamma: float
    currency: str | None = None


# The CDNOW estimates in the note (dollars): a published prior.
PRIOR = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def log_likelihood(params: Array, x: Array, m: Array) -> Array:
    """Per-customer log density of the observed mean order value (equation 3 of the note)."""
    p, q, gamma = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )


def fit(x: Array, m: Array, currency: str | None) -> GammaGammaParams:
    def loss(log_params: Array) -> float:
        return -float(np.sum(log_likelihood(np.exp(log_params), x, m))) / len(x)

    start = np.log([PRIOR.p, PRIOR.q, float(np.mean(m))])
    result = minimize(loss, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6})
    p, q, gamma = (float(v) for v in np.exp(result.x))
    return GammaGammaParams(p=p, q=q, gamma=gamma, currency=currency)


def expected_order_value(params: GammaGammaParams, x: float, m: float) -> float:
    """E(M | p, q, gamma, m, x): the population mean shrunk towards the customer's own."""
    p, q, gamma = params.p, params.q, params.gamma
    if q <= 1:
        return m if x > 0 else gamma * p
    if x <= 0:
        return p * gamma / (q - 1)
    return (gamma + m * x) * p / (p * x + q - 1)
