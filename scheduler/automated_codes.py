"""The discount codes automated messages carry, stored like the agent's, so the shop's check
(``GET /v1/discounts/{code}``) and redemption by ``order_completed`` work for both.

A code is derived from its send (``automated_code``), so every try of a send carries the same
one and storing it again is a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from policy.guardrails import Guardrails
from profile_store.discount_codes import IssuedCode, store_codes
from scheduler.dispatch import OutboundSend


def automated_code(send_id: str) -> str:
    """The discount code of an automated message: the same for every try of the send."""
    return "CC-" + hashlib.sha256(f"send:{send_id}".encode()).hexdigest()[:8].upper()


async def store_automated_codes(
    conn: AsyncConnection,
    sends: Sequence[tuple[Any, OutboundSend, float]],
    rules: Guardrails,
    now: datetime,
) -> None:
    """One row per code going out: (send row, what goes out, its percent), in one insert."""
    policy = rules.discounts
    codes = [
        IssuedCode(
            code=outbound.values["discount_code"],
            customer_id=row.customer_id,
            percent=percent,
            product_ids=list(outbound.product_ids),
            minimum_order=policy.minimum_order,
            decision_id=row.decision_id,
            issued_at=now,
            expires_at=now + policy.code_validity,
        )
        for row, outbound, percent in sends
        if outbound.values.get("discount_code")
    ]
    await store_codes(conn, codes)
