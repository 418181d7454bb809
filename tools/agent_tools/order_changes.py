"""``request_order_change`` and ``confirm_order_change``: cancel, return, exchange, change the
address or the items of the shopper's own order, under the ``orders`` policy.

Two steps, two messages. The first call checks the policy and records a *proposal*: nothing is
written to the order and nothing leaves. Only a yes in a later message (another turn)
confirms it; then the request is queued for the shop (a signed webhook, delivered and retried
by ``scheduler.shop_requests``) or, with no shop webhook or when the marketer wants a person to
approve that action, put in the inbox for a person. The shop's own event (``order_cancelled``,
...) completes it and the shopper is told (``profile_store.orders``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.guardrails import OrderAction
from profile_store.database import run_transaction
from profile_store.models import Conversation, Message, OrderRequest, OrderState, keyed_id
from tools.agent_tools.orders import (
    NEEDS_VERIFICATION,
    is_verified,
    latest_order,
    missing,
    own_order,
)
from tools.agent_tools.shopper import Shopper, ToolServices

REQUESTS = OrderRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]
ChangeStatus = Literal[
    "needs_confirmation", "refused", "needs_verification", "requested", "with_person", "declined"
]


class ChangeRequest(BaseModel):
    action: OrderAction
    order_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: the latest order"
    )
    items: list[str] = Field(
        default_factory=list, max_length=50, description="item or product ids, or names"
    )
    new_items: list[str] = Field(default_factory=list, max_length=50, description="variants")
    size: str | None = Field(default=None, max_length=32, description="the size to swap to")
    address: dict[str, str] | None = None
    reason: str = Field(default="", max_length=300)


class ChangeAnswer(BaseModel):
    status: ChangeStatus
    note: str
    request_id: str | None = None
    action: str | None = None
    order_id: str | None = None
    summary: str | None = None


class Refused(Exception):
    pass


def turn_of(shopper: Shopper) -> str | None:
    """The turn a tool call belongs to (the effect key is ``{turn}:{tool}:{n}``)."""
    return shopper.effect_key.rsplit(":", 2)[0] if shopper.effect_key else None


def _names(line: dict[str, Any], wanted: str) -> bool:
    ids = {str(line[k]) for k in ("item_id", "variant_id", "product_id") if line.get(k)}
    name = str(line.get("name") or "").casefold()
    word = wanted.strip().casefold().rstrip("s")
    return wanted in ids or (len(word) >= 3 and word in name)


def _lines(order: Any, items: list[str]) -> list[dict[str, Any]]:
    """The order's lines the shopper named (each at most as often as it was bought)."""
    left = list(order.items)
    picked: list[dict[str, Any]] = []
    for wanted in items:
        line = next((x for x in left if _names(x, wanted)), None)
        if line is None:
            raise Refused(f"order {order.id} has no item {wanted!r}")
        left.remove(line)
        picked.append(line)
    return picked


async def _check_variants(
    services: ToolServices, lines: list[dict[str, Any]], new_items: list[str], size: str | None
) -> list[dict[str, Any]]:
    if not new_items and size:
        new_items = [f"size:{size}"] * len(lines)
    if len(new_items) != len(lines) or not lines:
        raise Refused("name one new variant for each item to change")
    if services.catalog is None:
        raise Refused("the catalog is not available to check the new variant")
    catalog = await services.catalog()
    swaps = []
    for line, wanted in zip(lines, new_items, strict=True):
        product = await catalog.get(str(line.get("product_id")))
        variants = product.variants if product else []
        if wanted.startswith("size:"):
            old = next((v for v in variants if v.sku == line.get("variant_id")), None)
            variant = next(
                (
                    v
                    for v in variants
                    if _same_size(v.size, wanted[5:]) and (old is None or v.colour == old.colour)
                ),
                None,
            )
        else:
            variant = next((v for v in variants if v.sku == wanted), None)
        new = variant.sku if variant is not None else wanted
        if variant is None and services.rules().orders.exchange_same_product:
            raise Refused(f"{new!r} is not a variant of the same product")
        if variant is not None and variant.stock <= 0:
            raise Refused(f"{new!r} is out of stock")
        swaps.append({"item": _id_of(line), "new_item": new, "product_id": line.get("product_id")})
    return swaps


async def _policy(
    services: ToolServices, order: Any, request: ChangeRequest, now: datetime
) -> dict[str, Any]:
    """What the request will do, or ``Refused`` with the policy's reason."""
    rules = services.rules().orders
    action = request.action
    if action == "cancel":
        if order.status not in rules.cancellable_states:
            raise Refused(f"order {order.id} is {order.status}: it can no longer be cancelled")
        return {"reason": request.reason}
    if action in ("change_address", "change_items"):
        if order.status not in rules.changeable_states:
            raise Refused(f"order {order.id} is {order.status}: it can no longer be changed")
        if action == "change_address":
            if not request.address:
                raise Refused("say the new address")
            return {"address": request.address}
        lines = _lines(order, request.items or _all(order))
        swaps = await _check_variants(services, lines, request.new_items, request.size)
        return {"items": swaps}
    if order.status != OrderState.DELIVERED.value or order.delivered_at is None:
        raise Refused(f"order {order.id} is {order.status}: only delivered items go back")
    if now - order.delivered_at > timedelta(days=rules.return_window_days):
        raise Refused(
            f"order {order.id} was delivered more than {rules.return_window_days} days ago"
        )
    lines = _lines(order, request.items or _all(order))
    if action == "return":
        return {"items": sorted(_id_of(x) for x in lines)}
    return {"items": await _check_variants(services, lines, request.new_items, request.size)}


def _id_of(line: dict[str, Any]) -> str:
    return str(line.get("item_id") or line.get("variant_id") or line.get("product_id"))


def _all(order: Any) -> list[str]:
    return [_id_of(line) for line in order.items]


def _same_size(a: str | None, b: str) -> bool:
    return a is not None and a.strip().casefold() == b.strip().casefold()


def describe(action: str, order_id: str, details: dict[str, Any]) -> str:
    if action == "cancel":
        return f"cancel order {order_id}"
    if action == "change_address":
        address = ", ".join(str(v) for v in (details.get("address") or {}).values() if v)
        return f"send order {order_id} to {address}"
    if action == "return":
        return f"return {', '.join(details['items'])} from order {order_id}"
    swaps = ", ".join(f"{s['item']} for {s['new_item']}" for s in details.get("items", []))
    verb = "exchange" if action == "exchange" else "change"
    return f"{verb} {swaps} in order {order_id}"


async def request_order_change(
    services: ToolServices, shopper: Shopper, request: ChangeRequest, now: datetime
) -> ChangeAnswer:
    """Check the policy and propose; writes only the proposal."""
    async with services.readers() as session:
        conn = await session.connection()
        if not await is_verified(conn, services, shopper):
            return ChangeAnswer(status="needs_verification", note=NEEDS_VERIFICATION)
        order = await (
            own_order(conn, shopper, request.order_id)
            if request.order_id
            else latest_order(conn, shopper)
        )
        if order is None:
            return ChangeAnswer(status="refused", note=missing(request.order_id or "latest"))
        if (
            request.action == "exchange"
            and order.status in services.rules().orders.changeable_states
        ):
            request = request.model_copy(update={"action": "change_items"})
        try:
            details = await _policy(services, order, request, now)
        except Refused as exc:
            return ChangeAnswer(status="refused", note=str(exc), order_id=order.id)
    summary = describe(request.action, order.id, details)
    request_id = keyed_id("ordreq", f"{shopper.effect_key or now.isoformat()}:{order.id}")

    async def propose(session: AsyncSession) -> None:
        conn = await session.connection()
        if shopper.conversation_id is not None:
            await conn.execute(
                update(REQUESTS)
                .where(
                    REQUESTS.c.conversation_id == shopper.conversation_id,
                    REQUESTS.c.status == "proposed",
                    REQUESTS.c.id != request_id,
                )
                .values(status="superseded", updated_at=now)
            )
        exists = await conn.scalar(select(REQUESTS.c.id).where(REQUESTS.c.id == request_id))
        if exists is None:
            await conn.execute(
                REQUESTS.insert().values(
                    id=request_id,
                    order_id=order.id,
                    customer_id=shopper.customer_id,
                    conversation_id=shopper.conversation_id,
                    channel=shopper.channel.value,
                    action=request.action,
                    details={**details, "summary": summary},
                    status="proposed",
                    proposed_in=turn_of(shopper),
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )

    await run_transaction(services.writers, propose, name="tool.request_order_change")
    return ChangeAnswer(
        status="needs_confirmation",
        note=f"I will {summary}. Shall I go ahead? (yes/no)",
        request_id=request_id,
        action=request.action,
        order_id=order.id,
        summary=summary,
    )


async def confirm_order_change(
    services: ToolServices, shopper: Shopper, *, affirmed: bool, now: datetime
) -> ChangeAnswer:
    """The shopper's answer to the latest proposal of an earlier turn of this conversation."""
    if shopper.conversation_id is None:
        return ChangeAnswer(status="refused", note="nothing to confirm")
    turn = turn_of(shopper)
    conversation_id = shopper.conversation_id
    rules = services.rules().orders

    async def decide(session: AsyncSession) -> ChangeAnswer:
        conn = await session.connection()
        row = (
            await conn.execute(
                select(REQUESTS)
                .where(
                    REQUESTS.c.conversation_id == conversation_id,
                    REQUESTS.c.customer_id == shopper.customer_id,
                    REQUESTS.c.status == "proposed",
                )
                .order_by(REQUESTS.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if row is None or (turn is not None and row.proposed_in == turn):
            return ChangeAnswer(
                status="refused",
                note="nothing proposed yet: say what you will do and wait for the shopper's yes",
            )
        summary = str(row.details.get("summary", ""))
        base = {"request_id": row.id, "action": row.action, "order_id": row.order_id}
        if not affirmed:
            await _set(conn, row.id, "declined", now)
            return ChangeAnswer(status="declined", note="nothing changed", **base)
        if row.action in rules.approval_required or not services.shop_requests:
            await _set(conn, row.id, "with_person", now)
            await to_inbox(conn, row, summary, now)
            return ChangeAnswer(
                status="with_person",
                note=f"a colleague will {summary} and you'll hear back here",
                summary=summary,
                **base,
            )
        await conn.execute(
            update(REQUESTS)
            .where(REQUESTS.c.id == row.id)
            .values(status="queued", next_attempt_at=now, updated_at=now)
        )
        return ChangeAnswer(
            status="requested",
            note=f"requested: the shop will {summary}; I'll confirm here when it's done",
            summary=summary,
            **base,
        )

    return await run_transaction(services.writers, decide, name="tool.confirm_order_change")


async def _set(conn: AsyncConnection, request_id: str, status: str, now: datetime) -> None:
    await conn.execute(
        update(REQUESTS).where(REQUESTS.c.id == request_id).values(status=status, updated_at=now)
    )


async def to_inbox(conn: AsyncConnection, row: Any, summary: str, now: datetime) -> None:
    """Flag the conversation for a person, with a note saying what to do."""
    await conn.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == row.conversation_id)
        .values(attention=f"order request {row.id}: {summary}"[:1000], attention_at=now)
    )
    await conn.execute(
        MESSAGES.insert().values(
            conversation_id=row.conversation_id,
            channel=row.channel,
            direction="note",
            kind="order_request",
            text=f"Please {summary} (request {row.id}); the shopper said yes.",
            payload={"request_id": row.id, "action": row.action, "order_id": row.order_id},
            status="handled",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )
