"""Writing discount codes: the agent's grants and the codes automated messages carry are one
kind of row, checked by the shop and redeemed by an order the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from profile_store.database import insert_ignoring_conflict
from profile_store.models import DiscountCode

CODES = DiscountCode.__table__  # type: ignore[attr-defined]


class IssuedCode(BaseModel):
    code: str
    customer_id: str
    percent: float
    product_ids: list[str]
    minimum_order: float
    decision_id: str | None
    conversation_id: str | None = None
    issued_at: datetime
    expires_at: datetime


async def store_codes(conn: AsyncConnection, codes: Sequence[IssuedCode]) -> None:
    """Each code once, active: a retried turn or send that stores it again changes nothing."""
    if codes:
        rows = [{**c.model_dump(), "status": "active"} for c in codes]
        await conn.execute(insert_ignoring_conflict(conn, CODES, ["code"]), rows)
