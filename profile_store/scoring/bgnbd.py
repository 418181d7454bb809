"""BG/NBD: how often a customer buys and whether they are still a customer.

Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2):275-284. While alive a customer buys as a Poisson
process with rate ``lambda ~ Gamma(r, alpha)``; after each purchase they drop out with probability
``p ~ Beta(a, b)``. A customer is summarised by ``x`` repeat purchases, ``t_x`` the time of the
last one and ``T`` the time observed, all since their first purchase, in days.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Array = NDArray[np.float64]


class BgNbdParams(BaseModel):
    r: float
    alpha: float
    a: float
    b: float


# The CDNOW estimates of the paper (alpha 4.414 weeks, here in days): a published prior.
PRIOR = BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)


def log_likelihood(params: Array, x: Array, t_x: Array, big_t: Array) -> Array:
    """Per-customer log-likelihood, equation (6) of the paper."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    common += betaln(a, b + x) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + big_t)
    with np.errstate(divide="ignore"):
        dropped = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(alive, dropped)


def fit(x: Array, t_x: Array, big_t: Array) -> BgNbdParams:
    """Maximum likelihood over log-parameters (all four are positive)."""

    def loss(log_params: Array) -> float:
        return -float(np.sum(log_likelihood(np.exp(log_params), x, t_x, big_t))) / len(x)

    start = np.log([PRIOR.r, PRIOR.alpha, PRIOR.a, PRIOR.b])
    result = minimize(loss, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6})
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return BgNbdParams(r=r, alpha=alpha, a=a, b=b)


# Bounds outside which a fit describes no real shop: a rate prior concentrated on under a
# tenth of a day, a rate shape running off towards 0 or infinity, or a drop-out shape near 0.
# Short histories (a week of orders) drive the optimiser there. Large ``a`` and ``b`` together
# are fine: everyone drops out with about the same probability.
MIN_ALPHA_DAYS = 0.1
R_RANGE = (1e-3, 1e3)
MIN_DROPOUT_SHAPE = 1e-3


def implausible(p: BgNbdParams) -> str | None:
    """Why these parameters cannot be used, or None when they can."""
    values = {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b}
    for name, value in values.items():
        if not math.isfinite(value):
            return f"{name} is not finite"
    if p.alpha < MIN_ALPHA_DAYS:
        return f"alpha {p.alpha:.3g} days is below {MIN_ALPHA_DAYS}"
    if not R_RANGE[0] <= p.r <= R_RANGE[1]:
        return f"r {p.r:.3g} is outside {R_RANGE}"
    for name in ("a", "b"):
        if values[name] < MIN_DROPOUT_SHAPE:
            return f"{name} {values[name]:.3g} is below {MIN_DROPOUT_SHAPE}"
    return None


def p_alive(p: BgNbdParams, x: float, t_x: float, big_t: float) -> float:
    """Equation (11): the chance the customer has not dropped out."""
    if x <= 0:
        return 1.0
    ratio = (p.alpha + big_t) / (p.alpha + t_x)
    return 1.0 / (1.0 + p.a / (p.b + x - 1) * ratio ** (p.r + x))


def p_purchase_within(p: BgNbdParams, x: float, t_x: float, big_t: float, days: float) -> float:
    """The chance of at least one purchase in the next ``days``. Drop-out only follows a
    purchase, so that is P(alive) times a Poisson arrival under the rate's posterior, which given
    alive is Gamma(r + x, alpha + T)."""
    quiet = ((p.alpha + big_t) / (p.alpha + big_t + days)) ** (p.r + x)
    return p_alive(p, x, t_x, big_t) * (1.0 - quiet)


def expected_purchases(p: BgNbdParams, x: float, t_x: float, big_t: float, days: float) -> float:
    """Equation (10): expected purchases in the next ``days`` (needs a > 1 for the 2F1 form;
    below that it falls back to the alive rate, a slight overestimate)."""
    approximate = p_alive(p, x, t_x, big_t) * (p.r + x) / (p.alpha + big_t) * days
    if p.a <= 1:
        return approximate
    z = days / (p.alpha + big_t + days)
    head = (p.a + p.b + x - 1) / (p.a - 1)
    tail = 1.0 - ((p.alpha + big_t) / (p.alpha + big_t + days)) ** (p.r + x) * float(
        hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, z)
    )
    denominator = 1.0
    if x > 0:
        denominator += p.a / (p.b + x - 1) * ((p.alpha + big_t) / (p.alpha + t_x)) ** (p.r + x)
    exact = head * tail / denominator
    return exact if math.isfinite(exact) and exact >= 0 else approximate  # 2F1 overflowed
