"""What the eligibility engine knows about one customer at one moment.

A plain snapshot, loaded once per decision, so that ``evaluate`` is a pure function: the same
snapshot and rules always give the same verdict, which is what makes decisions explainable.
"""

from __future__ import annotations

from datetime import datetime, time

from pydantic import BaseModel, ConfigDict, Field

from profile_store.models import Channel, ConsentPurpose, ConsentStatus


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConsentState(_Frozen):
    channel: Channel
    purpose: ConsentPurpose
    status: ConsentStatus


class SentMessage(_Frozen):
    """An outbound message that actually went out (counted by frequency caps)."""

    channel: Channel
    purpose: ConsentPurpose
    sent_at: datetime


class ConversationState(_Frozen):
    channel: Channel
    owner: str = "bot"
    last_inbound_at: datetime | None = None


class Purchase(_Frozen):
    product_id: str
    last_purchased_at: datetime
    category: str | None = None


class OwnQuietHours(_Frozen):
    """Hours the customer asked not to be messaged in, in their own time zone."""

    start: time
    end: time


class CartLine(_Frozen):
    product_id: str
    quantity: int
    price: float | None = None
    currency: str | None = None


class CustomerContext(_Frozen):
    customer_id: str
    first_name: str | None = None
    locale: str | None = None
    loyalty_tier: str | None = None
    timezone: str | None = None
    phone: str | None = None
    reachable: frozenset[Channel] = Field(
        default_factory=frozenset, description="Channels we hold an address for"
    )
    consents: list[ConsentState] = Field(default_factory=list)
    sends: list[SentMessage] = Field(default_factory=list)
    conversations: list[ConversationState] = Field(default_factory=list)
    purchases: list[Purchase] = Field(default_factory=list)
    order_count: int = 0
    discounted_order_count: int = 0
    preferred_channel: Channel | None = None
    own_quiet_hours: OwnQuietHours | None = None
    cart: list[CartLine] = Field(default_factory=list, description="The open cart, now")
    category_affinity: dict[str, float] = Field(default_factory=dict)
    lifetime_value: dict[str, float] = Field(default_factory=dict, description="per currency")
    last_order_at: datetime | None = None
    last_seen_at: datetime | None = None
    event_count: int = 0
    refund_count: int = 0
    scores: dict[str, float] = Field(
        default_factory=dict, description="purchase_propensity_7d, churn_risk_90d, …"
    )
    learned_scores: frozenset[str] = Field(
        default=frozenset(),
        description="the scores a model fitted on the shop's data gave (the rest are priors)",
    )

    def consent(self, channel: Channel, purpose: ConsentPurpose) -> ConsentStatus | None:
        for state in self.consents:
            if state.channel == channel and state.purpose == purpose:
                return state.status
        return None

    def conversation(self, channel: Channel) -> ConversationState | None:
        return next((c for c in self.conversations if c.channel == channel), None)

    def recent_purchases(self, days: int, at: datetime) -> list[Purchase]:
        return [p for p in self.purchases if (at - p.last_purchased_at).days < days]
