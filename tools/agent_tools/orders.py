"""``get_order_status`` and ``verify_identity``: the shopper's own orders, with tracking, once
they proved who they are.

An order id that belongs to someone else is reported exactly like one that does not exist:
the answer must not even confirm that it is real. On channels where the shopper is only a chat
id (Telegram, web chat by default: ``orders.verify_channels``) the conversation must first be
verified with an order's email, or the name and zip it was sent to; on phone channels the phone
that resolved the shopper is the proof, for that phone's orders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import insert_ignoring_conflict, run_transaction
from profile_store.models import Customer, Identity, Order, OrderVerification
from tools.agent_tools.shopper import Shopper, ToolServices

ORDERS = Order.__table__  # type: ignore[attr-defined]
VERIFICATIONS = OrderVerification.__table__  # type: ignore[attr-defined]
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
NEEDS_VERIFICATION = (
    "first confirm who you are: the email address of the order, or your full name and the "
    "zip code it ships to"
)


class Shipment(BaseModel):
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


class OrderStatus(BaseModel):
    order_id: str
    status: str
    placed_at: datetime
    total: float | None
    currency: str | None
    product_ids: list[str]
    items: list[dict[str, Any]] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)
    delivered_at: datetime | None = None


class OrderLookup(BaseModel):
    orders: list[OrderStatus]
    note: str | None = None
    needs_verification: bool = False


class VerifyRequest(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    zip: str | None = Field(default=None, max_length=20)


class VerifyAnswer(BaseModel):
    verified: bool
    note: str


def needs_proof(services: ToolServices, shopper: Shopper) -> bool:
    return shopper.channel in services.rules().orders.verify_channels


async def is_verified(conn: AsyncConnection, services: ToolServices, shopper: Shopper) -> bool:
    if not needs_proof(services, shopper):
        return True
    if shopper.conversation_id is None:
        return False
    row = await conn.scalar(
        select(VERIFICATIONS.c.customer_id).where(
            VERIFICATIONS.c.conversation_id == shopper.conversation_id
        )
    )
    return row == shopper.customer_id


def _status(row: Any) -> OrderStatus:
    return OrderStatus(
        order_id=row.id,
        status=row.status,
        placed_at=row.placed_at,
        total=row.total,
        currency=row.currency,
        product_ids=[str(i.get("product_id")) for i in row.items],
        items=list(row.items),
        shipments=[Shipment.model_validate(s) for s in row.shipments],
        delivered_at=row.delivered_at,
    )


async def own_order(conn: AsyncConnection, shopper: Shopper, order_id: str) -> Any | None:
    """The shopper's order of that id; None for a missing one and for another customer's."""
    return (
        await conn.execute(
            select(ORDERS).where(
                ORDERS.c.id == normal_order_id(order_id),
                ORDERS.c.customer_id == shopper.customer_id,
            )
        )
    ).first()


async def latest_order(conn: AsyncConnection, shopper: Shopper) -> Any | None:
    return (
        await conn.execute(
            select(ORDERS)
            .where(ORDERS.c.customer_id == shopper.customer_id)
            .order_by(ORDERS.c.placed_at.desc())
            .limit(1)
        )
    ).first()


def normal_order_id(order_id: str) -> str:
    return order_id.strip()


def missing(order_id: str) -> str:
    return f"no order {order_id!r} on this shopper's account"


async def get_order_status(
    services: ToolServices, shopper: Shopper, order_id: str | None = None
) -> OrderLookup:
    async with services.readers() as session:
        conn = await session.connection()
        if not await is_verified(conn, services, shopper):
            return OrderLookup(orders=[], note=NEEDS_VERIFICATION, needs_verification=True)
        if order_id is not None:
            row = await own_order(conn, shopper, order_id)
            if row is None:
                return OrderLookup(orders=[], note=missing(order_id))
            return OrderLookup(orders=[_status(row)])
        rows = (
            await conn.execute(
                select(ORDERS)
                .where(ORDERS.c.customer_id == shopper.customer_id)
                .order_by(ORDERS.c.placed_at.desc())
                .limit(5)
            )
        ).all()
    latest = [_status(row) for row in rows]
    return OrderLookup(orders=latest, note=None if latest else "no orders yet")


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


async def verify_identity(
    services: ToolServices, shopper: Shopper, request: VerifyRequest, now: datetime
) -> VerifyAnswer:
    """Proof is checked against this shopper's own orders and profile only: an email or name
    that matches someone else proves nothing, and says nothing about them either."""
    if not needs_proof(services, shopper):
        return VerifyAnswer(verified=True, note="this channel's number already identifies you")
    if shopper.conversation_id is None:
        return VerifyAnswer(verified=False, note="no conversation to verify")
    async with services.readers() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(ORDERS.c.email, ORDERS.c.address).where(
                    ORDERS.c.customer_id == shopper.customer_id
                )
            )
        ).all()
        person = (
            await conn.execute(
                select(CUSTOMERS.c.first_name, CUSTOMERS.c.last_name, CUSTOMERS.c.attributes).where(
                    CUSTOMERS.c.id == shopper.customer_id
                )
            )
        ).first()
        emails = set(
            (
                await conn.execute(
                    select(IDENTITIES.c.value).where(
                        IDENTITIES.c.customer_id == shopper.customer_id,
                        IDENTITIES.c.kind == "email",
                    )
                )
            )
            .scalars()
            .all()
        )
    emails |= {row.email for row in rows if row.email}
    zips = {str((row.address or {}).get("zip", "")).strip() for row in rows}
    if person is not None and (home := (person.attributes or {}).get("zip")):
        zips.add(str(home).strip())  # the profile's own zip (an identify event's ``zip``)
    method = None
    if request.email and any(_same(request.email, e) for e in emails):
        method = "email"
    elif (
        person is not None
        and _same(request.first_name, person.first_name)
        and _same(request.last_name, person.last_name)
        and request.zip
        and request.zip.strip() in zips
    ):
        method = "name_zip"
    if method is None:
        return VerifyAnswer(verified=False, note="that does not match an order of yours")
    conversation_id = shopper.conversation_id

    async def write(session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(
            insert_ignoring_conflict(conn, VERIFICATIONS, ["conversation_id"]).values(
                conversation_id=conversation_id,
                customer_id=shopper.customer_id,
                method=method,
                verified_at=now,
            )
        )

    await run_transaction(services.writers, write, name="tool.verify_identity")
    return VerifyAnswer(verified=True, note="thanks, you're verified")
