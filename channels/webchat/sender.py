"""Sending on web chat: writing the message to the visitor's mailbox, which wakes their page.

The mailbox is passed in (the app stores it), so this adapter stays a channel like the others:
it turns an ``OutboundMessage`` into what the page shows and reports a ``SendResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from channels.messages import ChannelName, OutboundMessage, SendResult
from channels.webchat.wire import NewEntry, QuickReply, Sender


@dataclass(frozen=True)
class Posted:
    entry_id: int  # unique across visitors: the provider message id
    seq: int  # the entry's number in its visitor's mailbox
    new: bool = True


class Mailbox(Protocol):
    async def post(self, address: str, entry: NewEntry, idempotency_key: str) -> Posted:
        """Store ``entry`` once per key (a retry returns the first one) and wake the pages."""
        ...


def outbound_entry(message: OutboundMessage, product_buttons: Sequence[QuickReply]) -> NewEntry:
    """Product cards come with the quick replies configured for them ("Remind me tomorrow")."""
    return NewEntry(
        sender=Sender.HUMAN if message.from_person else Sender.BOT,
        text=message.text,
        cards=message.cards,
        buttons=list(product_buttons) if message.cards else [],
    )


class WebChatChannel:
    channel = ChannelName.WEBCHAT

    def __init__(
        self,
        mailbox: Mailbox,
        product_buttons: Callable[[], Sequence[QuickReply]] = lambda: (),
    ) -> None:
        self.mailbox = mailbox
        self.product_buttons = product_buttons

    async def send(self, message: OutboundMessage) -> SendResult:
        entry = outbound_entry(message, self.product_buttons())
        try:
            posted = await self.mailbox.post(message.address, entry, message.idempotency_key)
        except Exception as exc:  # the mailbox is a database: a blip is worth a retry
            return SendResult(
                ok=False,
                error=f"webchat: {type(exc).__name__}: {exc}"[:500],
                error_code="mailbox_unavailable",
                retryable=True,
            )
        return SendResult(ok=True, provider_message_ids=[f"entry:{posted.entry_id}"])

    async def close(self) -> None:
        return None
