"""Builders for events in the wire format, so tests read as stories."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count(1)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def event(
    type_: str, customer: dict[str, Any], minutes: float = 0, **properties: Any
) -> dict[str, Any]:
    return {
        "event_id": f"e-{next(_ids)}",
        "type": type_,
        "customer": customer,
        "properties": properties,
        "occurred_at": at(minutes),
    }


def order(
    customer: dict[str, Any],
    minutes: float,
    order_id: str,
    *items: tuple[str, int, float],
    currency: str = "USD",
    category: str | None = None,
) -> dict[str, Any]:
    return event(
        "order_completed",
        customer,
        minutes,
        order_id=order_id,
        total=round(sum(q * p for _, q, p in items), 2),
        currency=currency,
        items=[
            {
                "product_id": pid,
                "quantity": q,
                "price": p,
                **({"category": category} if category else {}),
            }
            for pid, q, p in items
        ],
    )
