"""The one thing the scheduler needs from the channels: hand over a send, learn what happened."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from channels.messages import ProductCard
from profile_store.models import Channel


class OutboundSend(BaseModel):
    """A due send, re-checked, rendered and ready for a channel adapter."""

    send_id: str
    idempotency_key: str
    customer_id: str
    channel: Channel
    address: str
    program: str
    text: str
    product_ids: list[str]
    use_template: bool = False
    cards: list[ProductCard] = Field(default_factory=list)
    footer: str = ""
    values: dict[str, str] = Field(
        default_factory=dict, description="What a WhatsApp template's variables may be filled with"
    )


class DispatchResult(BaseModel):
    ok: bool
    provider_message_id: str | None = None
    error: str | None = None
    retryable: bool = False


class Dispatcher(Protocol):
    async def dispatch(self, send: OutboundSend) -> DispatchResult: ...


class NoChannelDispatcher:
    """Used for channels whose credentials are not configured: the send fails with a reason
    (recorded on the send and its decision) instead of vanishing."""

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        return DispatchResult(
            ok=False, error=f"channel {send.channel.value} is not configured", retryable=False
        )
