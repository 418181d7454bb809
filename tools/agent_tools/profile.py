"""``get_profile``: what the agent may know about the shopper it is talking to."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from profile_store.models import Event
from profile_store.profile_view import load_profile
from tools.agent_tools.orders import get_order_status
from tools.agent_tools.shopper import Shopper, ToolServices

EVENTS = Event.__table__  # type: ignore[attr-defined]


class CartLine(BaseModel):
    product_id: str
    quantity: int
    price: float | None


class ProfileSummary(BaseModel):
    first_name: str | None
    loyalty_tier: str | None
    timezone: str | None
    preferences: dict[str, str]
    open_cart: list[CartLine]
    recent_purchases: list[str]
    last_order_at: datetime | None
    order_count: int


PREFERENCE_KEYS = ("preferred_channel", "quiet_hours", "topics", "size", "style")


async def get_profile(services: ToolServices, shopper: Shopper) -> ProfileSummary:
    async with services.readers() as session:
        view = await load_profile(session, shopper.customer_id, requested_ref="agent", recent=0)
    traits = view.traits
    purchases = sorted(traits.purchased_products, key=lambda p: p.last_purchased_at, reverse=True)
    return ProfileSummary(
        first_name=view.first_name,
        loyalty_tier=view.loyalty_tier,
        timezone=view.timezone,
        preferences={
            key: str(view.attributes[key]) for key in PREFERENCE_KEYS if key in view.attributes
        },
        open_cart=[
            CartLine(product_id=line.product_id, quantity=line.quantity, price=line.price)
            for line in traits.open_cart.items
        ],
        recent_purchases=[p.product_id for p in purchases[:10]],
        last_order_at=purchases[0].last_purchased_at if purchases else None,
        order_count=traits.frequency,
    )


class CartItem(BaseModel):
    product_id: str
    name: str | None = None
    quantity: int = 1


class LastOrder(BaseModel):
    order_id: str
    status: str
    placed_at: datetime
    product_ids: list[str]


class ShopperFacts(BaseModel):
    """The compact profile every model turn carries (and the offline planner answers from)."""

    first_name: str | None = None
    loyalty_tier: str | None = None
    locale: str | None = None
    open_cart: list[CartItem] = []
    last_order: LastOrder | None = None
    recent_views: list[CartItem] = []
    preferences: dict[str, str] = {}

    def summary(self) -> str:
        """One quoted line: every value is data from the profile, never an instruction."""
        parts: list[str] = []
        if self.first_name:
            parts.append(f"first name {_quoted(self.first_name)}")
        if self.loyalty_tier:
            parts.append(f"tier {_quoted(self.loyalty_tier)}")
        if self.locale:
            parts.append(f"language {_quoted(self.locale)}")
        if self.open_cart:
            items = ", ".join(f"{_label(i)} x{i.quantity}" for i in self.open_cart[:5])
            parts.append(f"open cart: {items}")
        if self.last_order:
            o = self.last_order
            parts.append(
                f"last order {_quoted(o.order_id)} placed {o.placed_at:%Y-%m-%d}, {o.status}"
            )
        if self.recent_views:
            parts.append("recently viewed: " + ", ".join(_label(i) for i in self.recent_views[:3]))
        if self.preferences:
            parts.append(
                "stated preferences: "
                + ", ".join(f"{k} {_quoted(v)}" for k, v in sorted(self.preferences.items()))
            )
        return "; ".join(parts) if parts else "nothing known yet"


def _quoted(value: str) -> str:
    return json.dumps(value[:80], ensure_ascii=False)


def _label(item: CartItem) -> str:
    return f"{_quoted(item.name)} ({item.product_id})" if item.name else item.product_id


async def shopper_facts(services: ToolServices, shopper: Shopper) -> ShopperFacts:
    """Read once per turn: the profile, the latest order and what the shopper looked at."""
    async with services.readers() as session:
        view = await load_profile(session, shopper.customer_id, requested_ref="agent", recent=0)
        conn = await session.connection()
        viewed = (
            await conn.execute(
                select(EVENTS.c.properties)
                .where(
                    EVENTS.c.customer_id == shopper.customer_id,
                    EVENTS.c.type == "product_viewed",
                )
                .order_by(EVENTS.c.occurred_at.desc())
                .limit(10)
            )
        ).all()
    orders = await get_order_status(services, shopper)
    cart = [
        CartItem(product_id=line.product_id, quantity=line.quantity)
        for line in view.traits.open_cart.items
    ]
    views = list(
        dict.fromkeys(str(row.properties.get("product_id")) for row in viewed if row.properties)
    )
    recent = [CartItem(product_id=pid) for pid in views[:3] if pid and pid != "None"]
    names = await _names(services, [i.product_id for i in cart + recent])
    latest = orders.orders[0] if orders.orders else None
    return ShopperFacts(
        first_name=view.first_name,
        loyalty_tier=view.loyalty_tier,
        locale=view.locale,
        open_cart=[i.model_copy(update={"name": names.get(i.product_id)}) for i in cart],
        last_order=LastOrder(
            order_id=latest.order_id,
            status=latest.status,
            placed_at=latest.placed_at,
            product_ids=latest.product_ids,
        )
        if latest
        else None,
        recent_views=[i.model_copy(update={"name": names.get(i.product_id)}) for i in recent],
        preferences={
            key: _preference(view.attributes[key])
            for key in PREFERENCE_KEYS
            if key in view.attributes
        },
    )


def _preference(value: object) -> str:
    if isinstance(value, dict):
        return "-".join(str(v) for v in value.values())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


async def _names(services: ToolServices, ids: list[str]) -> dict[str, str]:
    if not ids or services.catalog is None:
        return {}
    try:
        found = await (await services.catalog()).get_many(ids)
    except Exception:  # the catalog is a nicety here; the facts stand without names
        return {}
    return {pid: product.name for pid, product in found.items()}
