"""How decisions are made: the marketer's settings for next-best-action, and audiences.

``mode: adaptive`` (the default) scores each candidate action by its expected incremental
value and may choose to do nothing; ``mode: static`` is the plain rule book the simulator
compares against (every trigger sends, on one channel, with one discount for everyone).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policy.audiences import check_rule
from profile_store.models import Channel

Percent = Annotated[float, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(_Strict):
    rule: str = Field(
        description="e.g. churn_risk_90d > 0.6 and lifetime_value.USD > 200",
        max_length=1000,
    )
    description: str = Field(default="", max_length=300)

    @field_validator("rule")
    @classmethod
    def _parses(cls, rule: str) -> str:
        return check_rule(rule)


class StaticRules(_Strict):
    channel: Channel = Channel.SMS
    discount_percent: Percent = 10.0


class Decisioning(_Strict):
    mode: Literal["adaptive", "static"] = "adaptive"
    message_cost: float = Field(
        default=0.5,
        ge=0,
        description="What one more message costs, in the shop's currency, besides its risk of "
        "an opt-out (which is measured and priced separately): an action must be expected to "
        "earn more than both",
    )
    gross_margin: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The share of an order's value the shop keeps: what a sale earns, and so "
        "how much a discount on it costs in comparison",
    )
    discount_percent: Percent = Field(
        default=10.0, description="The discount an automated message may carry (within the ceiling)"
    )
    min_discount_sensitivity: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Below this change in purchase probability (drawn from the discount "
        "model's posterior at each decision) a discount is not offered: the shopper buys "
        "anyway, or not at all",
    )
    priority: list[str] = Field(
        default_factory=lambda: [
            "cart_abandoned",
            "back_in_stock",
            "price_drop",
            "browse_abandoned",
            "post_purchase",
            "win_back",
        ],
        description="When two programs want the same customer, the earlier one goes first",
    )
    static: StaticRules = StaticRules()
