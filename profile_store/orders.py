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
    ``order_history``.

    The batch's orders and open requests are read in one query each and folded in memory, then
    written once per order: ingestion holds the database's single writer while this runs, so
    per-event round trips would cost every event in the batch."""
    folded = [event for event in events if _is_order_event(event)]
    if not folded:
        return
    order_ids = sorted({event.props.order_id for event in folded})
    known = {
        row.id: dict(row._mapping)
        for row in await conn.execute(select(ORDERS).where(ORDERS.c.id.in_(order_ids)))
    }
    open_requests: dict[str, list[Any]] = {}
    for request in await conn.execute(
        select(REQUESTS).where(
            REQUESTS.c.order_id.in_(order_ids), REQUESTS.c.status.in_(OPEN_REQUEST_STATES)
        )
    ):
        open_requests.setdefault(request.order_id, []).append(request)
    created: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    answered: list[Any] = []
    for event in folded:
        order_id = event.props.order_id
        order = known.get(order_id)
        if order is not None and order["customer_id"] != event.customer_id:
            continue
        if isinstance(event.props, OrderProps):
            values = _placed(event, now)
            if order is None:
                order = {
                    "id": order_id,
                    "customer_id": event.customer_id,
                    "shipments": [],
                    "return_items": [],
                    "exchange_items": [],
                    "delivered_at": None,
                    **values,
                }
                known[order_id] = created[order_id] = order
            else:
                values.pop("status")  # a repeated placement never rewinds the lifecycle
                order.update(values)
                if order_id not in created:
                    changed.setdefault(order_id, {}).update(values)
        else:
            if order is None:
                continue  # an order we never saw placed: kept as an event, no state to fold
            changes = _changes(event.type, event.props, order, event.occurred_at)
            changes["updated_at"] = now
            order.update(changes)
            if order_id not in created:
                changed.setdefault(order_id, {}).update(changes)
        history.append(
            {
                "order_id": order_id,
                "event_id": event.event_id,
                "type": event.type,
                "status": order["status"],
                "details": event.properties,
                "occurred_at": event.occurred_at,
            }
        )
        still_open = []
        for request in open_requests.get(order_id, []):
            if request.customer_id == event.customer_id and _answers(event.type, request.action):
                answered.append(request)
            else:
                still_open.append(request)
        open_requests[order_id] = still_open
    if created:
        await conn.execute(insert_ignoring_conflict(conn, ORDERS, ["id"]), list(created.values()))
    for order_id, values in changed.items():
        await conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(values))
    if history:
        await conn.execute(insert_ignoring_conflict(conn, HISTORY, ["event_id"]), history)
    for request in answered:
        await conn.execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == request.id)
            .values(status="completed", completed_at=now, updated_at=now)
        )
        await queue_confirmation(conn, request, now)


def _is_order_event(event: OrderEvent) -> bool:
    return (
        isinstance(event.props, OrderRef | OrderProps | RefundProps) and event.type in ORDER_EVENTS
    )


def _placed(event: OrderEvent, now: datetime) -> dict[str, Any]:
    props, raw = event.props, event.properties
    return {
        "status": OrderState.PLACED.value,
        "total": props.total,
        "currency": props.currency,
        "items": [_item(i.model_dump()) for i in props.items],
        "address": raw.get("address") if isinstance(raw.get("address"), dict) else None,
        "email": str(raw["email"]).strip().lower() if raw.get("email") else None,
        "placed_at": event.occurred_at,
        "updated_at": now,
    }


def _changes(
    event_type: str, props: Any, order: dict[str, Any], occurred_at: datetime
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if event_type in STATE_AFTER:
        changes["status"] = STATE_AFTER[event_type].value
    if isinstance(props, ShipmentProps):
        shipment = props.model_dump(include={"carrier", "tracking_number", "tracking_url", "items"})
        changes["shipments"] = [*order["shipments"], shipment]
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
