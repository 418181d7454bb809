"""``get_order_status``: the shopper's own orders, from their order events only.

An order id that belongs to someone else is reported exactly like one that does not exist:
the answer must not even confirm that it is real.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from profile_store.models import Event
from tools.agent_tools.shopper import Shopper, ToolServices

EVENTS = Event.__table__  # type: ignore[attr-defined]


class OrderStatus(BaseModel):
    order_id: str
    status: str
    placed_at: datetime
    total: float | None
    currency: str | None
    product_ids: list[str]


class OrderLookup(BaseModel):
    orders: list[OrderStatus]
    note: str | None = None


async def get_order_status(
    services: ToolServices, shopper: Shopper, order_id: str | None = None
) -> OrderLookup:
    async with services.readers() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(EVENTS.c.type, EVENTS.c.properties, EVENTS.c.occurred_at)
                .where(
                    EVENTS.c.customer_id == shopper.customer_id,
                    EVENTS.c.type.in_(["order_completed", "order_refunded"]),
                )
                .order_by(EVENTS.c.occurred_at)
            )
        ).all()
    orders: dict[str, OrderStatus] = {}
    for row in rows:
        oid = str(row.properties.get("order_id", ""))
        if row.type == "order_completed":
            orders[oid] = OrderStatus(
                order_id=oid,
                status="placed",
                placed_at=row.occurred_at,
                total=row.properties.get("total"),
                currency=row.properties.get("currency"),
                product_ids=[str(i.get("product_id")) for i in row.properties.get("items", [])],
            )
        elif oid in orders:
            orders[oid].status = "refunded"
    if order_id is not None:
        found = orders.get(order_id.strip())
        if found is None:
            return OrderLookup(orders=[], note=f"no order {order_id!r} on this shopper's account")
        return OrderLookup(orders=[found])
    latest = sorted(orders.values(), key=lambda o: o.placed_at, reverse=True)[:5]
    return OrderLookup(orders=latest, note=None if latest else "no orders yet")
