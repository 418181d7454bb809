"""Orders as first-class data: each lifecycle event folds into the order's current state and
is kept in its history; the event that answers a pending action request completes it and tells
the shopper, in the conversation the request came from.

Runs inside event ingestion's transaction, so an order's state never lags its events. An event
about an order another customer owns changes nothing (the shop's ids are the shop's to keep
unique; we never move an order between customers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from profile_store.database import insert_ignoring_conflict
from profile_store.models import (
    Conversation,
    Message,
    MessageStatus,
    Order,
    OrderHistory,
    OrderRequest,
    OrderState,
)
from profile_store.schemas import (
    ExchangeProps,
    OrderProps,
    OrderRef,
    OrderUpdateProps,
    RefundProps,
    ReturnProps,
    ShipmentProps,
)

ORDERS = Order.__table__  # type: ignore[attr-defined]
HISTORY = OrderHistory.__table__  # type: ignore[attr-defined]
REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]

# The state each lifecycle event puts an order in (order_updated keeps the state it had).
STATE_AFTER: dict[str, OrderState] = {
    "order_completed": OrderState.PLACED,
    "order_fulfilled": OrderState.SHIPPED,
    "order_shipped": OrderState.SHIPPED,
    "order_delivered": OrderState.DELIVERED,
    "order_cancelled": OrderState.CANCELLED,
    "order_refunded": OrderState.REFUNDED,
    "return_requested": OrderState.RETURN_REQUESTED,
    "return_received": OrderState.RETURNED,
    "exchange_requested": OrderState.EXCHANGE_REQUESTED,
}
ORDER_EVENTS = frozenset(STATE_AFTER) | {"order_updated"}
# Which request an event answers: the shop did what was asked.
ANSWERS: dict[str, str] = {
    "order_cancelled": "cancel",
    "return_requested": "return",
    "exchange_requested": "exchange",
}
OPEN_REQUEST_STATES = ("queued", "sent", "with_person", "dead")
CONFIRMATIONS: dict[str, str] = {
    "cancel": "Done: your order {order_id} is cancelled. The refund goes back to how you paid.",
    "return": "Your return for order {order_id} is booked: you'll get the return label by email.",
    "exchange": "Your exchange for order {order_id} is booked: you'll get the details by email.",
    "change_address": "Done: order {order_id} will go to the new address.",
    "change_items": "Done: order {order_id} now has the items you asked for.",
}


@dataclass(frozen=True, slots=True)
class OrderEvent:
    event_id: str
    type: str
    customer_id: str
    props: Any
    occurred_at: datetime
    properties: dict[str, Any]


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    keep = ("product_id", "variant_id", "item_id", "name", "quantity", "price", "options")
    return {k: raw[k] for k in keep if k in raw}


async def apply_order_events(
    conn: AsyncConnection,
    events: Sequence[OrderEvent],
    now: datetime,
) -> None:
    """Fold order events, in the order given (ingestion's order), into ``orders`` and
    ``order_history``."""
    for event in events:
        event_id, event_type, customer_id = event.event_id, event.type, event.customer_id
        props, occurred_at, raw = event.props, event.occurred_at, event.properties
        if (
            not isinstance(props, OrderRef | OrderProps | RefundProps)
            or event_type not in ORDER_EVENTS
        ):
            continue
        order_id = props.order_id
        row = (await conn.execute(select(ORDERS).where(ORDERS.c.id == order_id))).first()
        if row is not None and row.customer_id != customer_id:
            continue
        if isinstance(props, OrderProps):
            values: dict[str, Any] = {
                "status": OrderState.PLACED.value,
                "total": props.total,
                "currency": props.currency,
                "items": [_item(i.model_dump()) for i in props.items],
                "address": raw.get("address") if isinstance(raw.get("address"), dict) else None,
                "email": str(raw["email"]).strip().lower() if raw.get("email") else None,
                "placed_at": occurred_at,
                "updated_at": now,
            }
            if row is None:
                await conn.execute(
                    insert_ignoring_conflict(conn, ORDERS, ["id"]).values(
                        id=order_id,
                        customer_id=customer_id,
                        shipments=[],
                        return_items=[],
                        exchange_items=[],
                        **values,
                    )
                )
            else:
                values.pop("status")
                await conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(values))
            status = values.get("status", row.status if row else OrderState.PLACED.value)
        else:
            if row is None:
                continue  # an order we never saw placed: kept as an event, no state to fold
            changes = _changes(event_type, props, row, occurred_at)
            changes["updated_at"] = now
            await conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(changes))
            status = changes.get("status", row.status)
        await conn.execute(
            insert_ignoring_conflict(conn, HISTORY, ["event_id"]).values(
                order_id=order_id,
                event_id=event_id,
                type=event_type,
                status=status,
                details=raw,
                occurred_at=occurred_at,
            )
        )
        await _complete_requests(conn, order_id, customer_id, event_type, now)


def _changes(event_type: str, props: Any, row: Any, occurred_at: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if event_type in STATE_AFTER:
        changes["status"] = STATE_AFTER[event_type].value
    if isinstance(props, ShipmentProps):
        shipment = props.model_dump(include={"carrier", "tracking_number", "tracking_url", "items"})
        changes["shipments"] = [*row.shipments, shipment]
    elif event_type == "order_delivered":
        changes["delivered_at"] = occurred_at
    elif isinstance(props, ReturnProps) and event_type == "return_requested":
        changes["return_items"] = sorted(props.items)
    elif isinstance(props, ExchangeProps):
        changes["exchange_items"] = [line.model_dump() for line in props.items]
    elif isinstance(props, OrderUpdateProps):
        if props.address is not None:
            changes["address"] = props.address
        if props.items is not None:
            changes["items"] = [_item(i.model_dump()) for i in props.items]
    return changes


async def _complete_requests(
    conn: AsyncConnection, order_id: str, customer_id: str, event_type: str, now: datetime
) -> None:
    """The shop did what a request asked: mark it completed and tell the shopper."""
    rows = (
        await conn.execute(
            select(REQUESTS).where(
                REQUESTS.c.order_id == order_id,
                REQUESTS.c.customer_id == customer_id,
                REQUESTS.c.status.in_(OPEN_REQUEST_STATES),
            )
        )
    ).all()
    for request in rows:
        if not _answers(event_type, request.action):
            continue
        await conn.execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == request.id)
            .values(status="completed", completed_at=now, updated_at=now)
        )
        await queue_confirmation(conn, request, now)


def _answers(event_type: str, action: str) -> bool:
    if event_type == "order_updated":
        return action in ("change_address", "change_items")
    return ANSWERS.get(event_type) == action


async def queue_confirmation(conn: AsyncConnection, request: Any, now: datetime) -> None:
    """The confirmation, queued in the request's conversation like any reply (delivered in
    order by the conversation worker, once: keyed by the request)."""
    if request.conversation_id is None:
        return
    text = CONFIRMATIONS.get(request.action, "Done: order {order_id} is updated.").format(
        order_id=request.order_id
    )
    await conn.execute(
        insert_ignoring_conflict(conn, MESSAGES, ["idempotency_key"]).values(
            conversation_id=request.conversation_id,
            channel=request.channel,
            direction="out",
            kind="text",
            idempotency_key=f"order-request:{request.id}:done",
            text=text,
            payload={"cards": [], "origin": {"program": "order_request", "id": request.id}},
            status=MessageStatus.QUEUED.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        update(CONVERSATIONS)
        .where(
            CONVERSATIONS.c.id == request.conversation_id,
            (CONVERSATIONS.c.due_at.is_(None)) | (CONVERSATIONS.c.due_at > now),
        )
        .values(due_at=now)
    )
