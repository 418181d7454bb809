"""Wire types at the profile store's edge: the event format of DESIGN.md and the profile view."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from profile_store.models import Channel, ConsentPurpose, ConsentStatus, IdentityKind
from profile_store.normalize import normalize_identity
from profile_store.scoring.views import ScoreView


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError("must be a 3-letter ISO 4217 code, e.g. USD")
    return code


Currency = Annotated[str, AfterValidator(_currency)]


class CustomerRef(BaseModel):
    """Names a customer by any identity; several identities together link them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str | None = Field(default=None, min_length=1, max_length=40)
    phone: str | None = None
    email: str | None = None
    telegram_id: str | None = None
    whatsapp_id: str | None = Field(
        default=None,
        description="WhatsApp's business-scoped user id, e.g. US.13491208655302741918",
    )
    anonymous_id: str | None = None
    external_id: str | None = None

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _telegram_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("phone", "email", "telegram_id", "whatsapp_id", "anonymous_id", "external_id")
    @classmethod
    def _normalize(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        region = (info.context or {}).get("default_region", "US")
        assert info.field_name is not None
        return normalize_identity(IdentityKind(info.field_name), value, region)

    @model_validator(mode="after")
    def _at_least_one(self) -> CustomerRef:
        if not self.customer_id and not self.identities():
            raise ValueError(
                "name the customer by at least one of customer_id, phone, email, "
                "telegram_id, whatsapp_id, anonymous_id, external_id"
            )
        return self

    @cached_property
    def _pairs(self) -> tuple[tuple[IdentityKind, str], ...]:
        return tuple(
            (kind, value)
            for kind in IdentityKind
            if (value := getattr(self, kind.value)) is not None
        )

    def identities(self) -> tuple[tuple[IdentityKind, str], ...]:
        """The (kind, normalized value) pairs this ref names; computed once (hot in ingestion)."""
        return self._pairs


class EventIn(BaseModel):
    """One behavioural event as the shop sends it to ``POST /v1/events``."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    customer: CustomerRef
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: AwareDatetime


class _Props(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProductProps(_Props):
    product_id: str = Field(min_length=1, max_length=200)
    category: str | None = Field(default=None, max_length=500)
    price: float | None = Field(default=None, ge=0)
    currency: Currency | None = None


class CartProps(ProductProps):
    quantity: int = Field(default=1, ge=1, le=10_000)


class OrderItem(_Props):
    product_id: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=10_000)
    price: float = Field(ge=0)
    category: str | None = Field(default=None, max_length=500)
    discount: float = Field(default=0, ge=0, description="Amount off this line")
    compare_at_price: float | None = Field(default=None, ge=0, description="Regular price")


class OrderProps(_Props):
    order_id: str = Field(min_length=1, max_length=200)
    total: float = Field(ge=0)
    currency: Currency
    items: list[OrderItem] = Field(min_length=1)
    discount: float = Field(default=0, ge=0, description="Amount off the whole order")
    discount_code: str | None = Field(
        default=None, max_length=40, description="A code the agent granted, now redeemed"
    )

    @property
    def discounted(self) -> bool:
        """Bought on a discount: order or line discounts, a code, or a line below its regular
        price."""
        return (
            self.discount > 0
            or bool(self.discount_code)
            or any(
                item.discount > 0
                or (item.compare_at_price is not None and item.compare_at_price > item.price)
                for item in self.items
            )
        )


class RefundProps(_Props):
    order_id: str = Field(min_length=1, max_length=200)
    amount: float = Field(ge=0)
    currency: Currency

    @model_validator(mode="before")
    @classmethod
    def _total_as_amount(cls, data: Any) -> Any:
        if isinstance(data, dict) and "amount" not in data and "total" in data:
            return {**data, "amount": data["total"]}
        return data


class OrderRef(_Props):
    """An order lifecycle event: the order it is about."""

    order_id: str = Field(min_length=1, max_length=200)


class ShipmentProps(OrderRef):
    carrier: str | None = Field(default=None, max_length=100)
    tracking_number: str | None = Field(default=None, max_length=200)
    tracking_url: str | None = Field(default=None, max_length=2000)
    items: list[str] = Field(
        default_factory=list, max_length=500, description="product or variant ids shipped"
    )


class ReturnProps(OrderRef):
    items: list[str] = Field(default_factory=list, max_length=500)
    reason: str | None = Field(default=None, max_length=500)


class ExchangeLine(_Props):
    item: str = Field(min_length=1, max_length=200, description="product or variant id")
    new_item: str = Field(min_length=1, max_length=200, description="the variant wanted")


class ExchangeProps(OrderRef):
    items: list[ExchangeLine] = Field(min_length=1, max_length=500)


class OrderUpdateProps(OrderRef):
    address: dict[str, str] | None = None
    items: list[OrderItem] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something(self) -> OrderUpdateProps:
        if self.address is None and self.items is None:
            raise ValueError("an order_updated event carries address, items or both")
        return self


class ConsentProps(_Props):
    channel: Channel
    purpose: ConsentPurpose
    status: ConsentStatus
    source: str = Field(default="event", max_length=64)


class MessageProps(_Props):
    channel: Channel
    message_id: str | None = None


class IdentifyProps(_Props):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    timezone: str | None = None
    locale: str | None = Field(default=None, max_length=35)
    loyalty_tier: str | None = Field(default=None, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


# Standard event types and the properties each must carry; any other type is stored as custom.
PROPERTY_SCHEMAS: dict[str, type[_Props]] = {
    "identify": IdentifyProps,
    "product_viewed": ProductProps,
    "added_to_cart": CartProps,
    "removed_from_cart": CartProps,
    "checkout_started": _Props,
    "order_completed": OrderProps,
    "order_refunded": RefundProps,
    "order_fulfilled": ShipmentProps,
    "order_shipped": ShipmentProps,
    "order_delivered": OrderRef,
    "order_cancelled": OrderRef,
    "return_requested": ReturnProps,
    "return_received": ReturnProps,
    "exchange_requested": ExchangeProps,
    "order_updated": OrderUpdateProps,
    "consent_changed": ConsentProps,
    "message_sent": MessageProps,
    "message_opened": MessageProps,
    "message_clicked": MessageProps,
    "message_replied": MessageProps,
}
STANDARD_TYPES = frozenset(PROPERTY_SCHEMAS)


class EventError(BaseModel):
    index: int
    event_id: str | None = None
    field: str
    message: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    customer_ids: list[str]


class IdentityView(BaseModel):
    kind: str
    value: str
    verified: bool
    created_at: datetime


class ConsentView(BaseModel):
    channel: str
    purpose: str
    status: str
    source: str
    occurred_at: datetime


class CartLineView(BaseModel):
    product_id: str
    quantity: int
    price: float | None
    currency: str | None
    updated_at: datetime


class OpenCartView(BaseModel):
    items: list[CartLineView]
    value: float
    currency: str | None
    updated_at: datetime | None


class PurchaseView(BaseModel):
    product_id: str
    category: str | None = None
    count: int
    first_purchased_at: datetime
    last_purchased_at: datetime


class TraitsView(BaseModel):
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    event_count: int
    recency_days: float | None = Field(description="days since the last order")
    frequency: int = Field(description="number of orders")
    monetary: dict[str, float] = Field(description="amount spent, per currency")
    lifetime_value: dict[str, float] = Field(description="spent less refunded, per currency")
    average_order_value: dict[str, float]
    refund_count: int
    discounted_order_count: int = Field(description="orders bought on a discount")
    category_affinity: dict[str, float] = Field(description="share of weighted interest")
    channel_engagement: dict[str, dict[str, int]]
    engagement_hours_utc: list[int]
    open_cart: OpenCartView
    purchased_products: list[PurchaseView]


class EventView(BaseModel):
    event_id: str
    type: str
    properties: dict[str, Any]
    occurred_at: datetime


class MergeView(BaseModel):
    source_customer_id: str
    target_customer_id: str
    reason: str
    merged_at: datetime


class ConflictView(BaseModel):
    other_customer_id: str
    kind: str
    detail: str
    status: str
    detected_at: datetime


class ProfileView(BaseModel):
    customer_id: str
    requested_ref: str
    first_name: str | None
    last_name: str | None
    timezone: str | None
    locale: str | None
    loyalty_tier: str | None
    attributes: dict[str, Any]
    created_at: datetime
    identities: list[IdentityView]
    consents: list[ConsentView] = Field(description="current state per channel and purpose")
    consent_history: list[ConsentView]
    traits: TraitsView
    recent_events: list[EventView]
    merged_from: list[MergeView]
    conflicts: list[ConflictView]
    scores: dict[str, ScoreView] = Field(
        default_factory=dict,
        description="purchase_propensity_7d, churn_risk_90d, discount_sensitivity, "
        "expected_value_90d: each {value, explanation, model_version}",
    )
