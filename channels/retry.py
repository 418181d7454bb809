"""Retrying a send on rate limits and provider errors, with backoff, honouring ``retry_after``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from channels.adapter import ChannelAdapter
from channels.messages import OutboundMessage, SendResult


class RetryPolicy(BaseModel):
    attempts: int = Field(default=4, ge=1)
    base_delay: float = Field(default=0.5, ge=0, description="Seconds before the 2nd attempt")
    max_delay: float = Field(default=30.0, ge=0)
    max_retry_after: float = Field(
        default=60.0,
        ge=0,
        description="A provider asking for a longer wait fails this try; the caller reschedules",
    )

    def delay(self, attempt: int, result: SendResult) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to stop."""
        if not result.retryable or attempt >= self.attempts:
            return None
        if result.retry_after is not None:
            return result.retry_after if result.retry_after <= self.max_retry_after else None
        backoff = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return backoff * (0.5 + random.random() / 2)  # jitter spreads a burst of retries


async def send_with_retry(
    adapter: ChannelAdapter,
    message: OutboundMessage,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SendResult:
    """Send, retrying retryable failures; the last result says why it finally failed."""
    attempt = 1
    while True:
        result = await adapter.send(message)
        if result.ok:
            return result
        wait = policy.delay(attempt, result)
        if wait is None:
            return result
        await sleep(wait)
        attempt += 1
