"""``chatcommerce chat``: talk to the bot in a terminal, through the same pipeline as a webhook.

Each line typed is accepted as an inbound message on the chosen channel (stored, deduplicated,
identity resolved), the conversation worker runs the turn with the configured handler, and the
replies are delivered by a terminal channel adapter that prints them. Profiles, memory, offers
and follow-ups are real: they land in the same database the server uses.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import Callable

from app.container import Container
from app.settings import Settings
from app.write_key import resolve_write_key
from channels.messages import ChannelName, InboundKind, InboundMessage, OutboundMessage, SendResult
from conversations.inbox import InboundRejected, accept_inbound
from profile_store import clock
from profile_store.database import transaction
from profile_store.migrate import upgrade

PROMPT = "you> "


class TerminalChannel:
    """A channel adapter that prints what the bot sends, cards as lines with price and link."""

    def __init__(self, channel: ChannelName, write: Callable[[str], None]) -> None:
        self.channel = channel
        self._write = write
        self._ids = itertools.count(1)

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.text:
            self._write(f"bot> {message.text}")
        for card in message.cards:
            link = f"  {card.url}" if card.url else ""
            self._write(f"     [{card.name}: {card.price:.2f} {card.currency}]{link}")
        return SendResult(ok=True, provider_message_ids=[f"terminal-{next(self._ids)}"])

    async def close(self) -> None:
        return None


def inbound(channel: ChannelName, address: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        provider_message_id=f"terminal:{uuid.uuid4().hex}",
        address=address,
        sender_id=address,
        kind=InboundKind.TEXT,
        text=text,
    )


async def chat(
    settings: Settings,
    channel: ChannelName,
    address: str,
    read: Callable[[], str | None],
    write: Callable[[str], None],
) -> None:
    """Read lines until ``read`` returns None (end of input), answering each."""
    # A person typing is one message at a time: no burst window to wait out.
    settings = settings.model_copy(update={"conversation_burst_seconds": 0.0})
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
    write_key, _ = resolve_write_key(settings)
    container = Container.build(settings, write_key)
    await container.load_guardrails()
    container.conversations.adapters = {channel: TerminalChannel(channel, write)}
    container.start(background=False)
    try:
        while (line := await asyncio.to_thread(read)) is not None:
            if not line.strip():
                continue
            try:
                async with transaction(container.sessions) as session:
                    await accept_inbound(
                        session,
                        inbound(channel, address, line.strip()),
                        now=clock.now(),
                        burst_window=container.conversations.config.burst_window,
                        default_region=settings.default_phone_region,
                    )
            except InboundRejected as exc:
                write(f"error: {exc}")
                return
            while await container.conversations.run_once():
                pass
    finally:
        await container.close()


def read_line() -> str | None:
    """One line from the terminal (with a prompt when it is interactive), None at the end."""
    if sys.stdin.isatty():
        try:
            return input(PROMPT)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line if line else None
