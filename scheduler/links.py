"""Short, tracked links for the products in automated messages.

An SMS has no room for a shop's long product URLs, and no channel tells us when a link is
opened; a short link on our own public URL does both: ``/l/{code}`` redirects to the product
and records the click on the decision that sent it (a response for the channel bandit and the
copy variants, and a step on the way to a conversion).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from profile_store.models import TrackedLink

LINKS = TrackedLink.__table__  # type: ignore[attr-defined]
ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 8  # 62^8 ≈ 2e14: not guessable by walking codes


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class LinkRequest:
    url: str
    customer_id: str
    channel: str
    decision_id: str | None
    send_id: str | None
    product_id: str | None


class TrackedLinks:
    """Makes short links under ``base_url`` (the deployment's public URL)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def shorten(
        self, conn: AsyncConnection, requests: list[LinkRequest], now: datetime
    ) -> list[str]:
        """One short URL per request, in order; written in the caller's transaction."""
        if not requests:
            return []
        codes = [new_code() for _ in requests]
        await conn.execute(
            insert(LINKS),
            [
                {
                    "code": code,
                    "url": request.url,
                    "customer_id": request.customer_id,
                    "channel": request.channel,
                    "decision_id": request.decision_id,
                    "send_id": request.send_id,
                    "product_id": request.product_id,
                    "clicks": 0,
                    "created_at": now,
                }
                for code, request in zip(codes, requests, strict=True)
            ],
        )
        return [f"{self.base_url}/l/{code}" for code in codes]
