"""The one interface every outbound channel implements."""

from __future__ import annotations

from typing import Protocol

from channels.messages import ChannelName, OutboundMessage, SendResult


class ChannelAdapter(Protocol):
    """Sends one message (text, product cards or a template) and reports what happened.

    ``send`` makes a single attempt and never raises for provider errors: it returns a
    ``SendResult`` saying whether a retry could help. Retrying is ``send_with_retry``'s job.
    """

    channel: ChannelName

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def close(self) -> None: ...
