"""What a score looks like at the edges (the profile API, the console)."""

from __future__ import annotations

from pydantic import BaseModel, Field

SCORE_NAMES = (
    "purchase_propensity_7d",
    "churn_risk_90d",
    "discount_sensitivity",
    "expected_value_90d",
)


class ScoreView(BaseModel):
    value: float
    explanation: str = Field(description="the top factors, in words a marketer reads")
    model_version: str = Field(description="the fitted model, or prior-v1 before there is one")
