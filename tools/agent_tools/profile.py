"""``get_profile``: what the agent may know about the shopper it is talking to."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from profile_store.profile_view import load_profile
from tools.agent_tools.shopper import Shopper, ToolServices


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
