"""The fitted parameters of all scoring models, stored as one ``score_models`` row per fit.

Each part is fitted only when the shop has enough history for it; until then it is None and the
documented prior is used, and every score it produces says so (model version ``prior-v1``).
"""

from __future__ import annotations

from pydantic import BaseModel

from profile_store.scoring.bgnbd import BgNbdParams
from profile_store.scoring.discount_logit import LogitParams
from profile_store.scoring.gamma_gamma import GammaGammaParams

PRIOR_VERSION = "prior-v1"
# Prospects (no order yet) buy a first time at a constant rate; before a fit, about 2% a week.
PRIOR_FIRST_ORDER_RATE = 0.003  # per day
# Before the logistic model has data: a discount lifts conversion by up to this much, scaled by
# the customer's (smoothed) share of orders bought on a discount; 0 without a discounted order.
PRIOR_MAX_DISCOUNT_UPLIFT = 0.10
# Fewer customers or examples than these and a part is not fitted (the prior stays).
MIN_BUYERS = 50
MIN_REPEAT_BUYERS = 10
MIN_PROSPECTS = 20
MIN_DISCOUNT_EXAMPLES = 100
MIN_PER_ARM = 20


class ScoreModelParams(BaseModel):
    version: str = PRIOR_VERSION
    bgnbd: BgNbdParams | None = None
    gamma_gamma: GammaGammaParams | None = None
    first_order_rate: float | None = None  # per day, exponential MLE over prospects
    discount: LogitParams | None = None


PRIOR_PARAMS = ScoreModelParams()
