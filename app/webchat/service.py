"""Web chat on this deployment: sessions, the visitor's messages into the pipeline, the mailbox
the channel adapter writes to, and the streams that show it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from app.webchat import mailbox
from app.webchat.hub import StreamHub
from app.webchat.mailbox import RateLimited, VisitorSession
from channels.webchat import events
from channels.webchat.inbound import inbound_message
from channels.webchat.sender import Posted, WebChatChannel
from channels.webchat.wire import (
    ChatEntry,
    MessageAccepted,
    NewEntry,
    QuickReply,
    Sender,
    SessionCreated,
    VisitorMessage,
)
from conversations.inbox import Acceptance, accept_inbound
from policy.guardrails import Guardrails, QuickReplyOption
from profile_store import clock
from profile_store.database import transaction

__all__ = ["RateLimited", "VisitorSession", "WebChat", "WebChatConfig"]
STREAM_BATCH = 100
RECONNECT_MS = 2000


@dataclass(frozen=True)
class WebChatConfig:
    rate_limit: int = 20
    rate_window: timedelta = timedelta(seconds=60)
    poll_seconds: float = 1.0
    stream_seconds: float = 120.0
    heartbeat_seconds: float = 15.0
    default_region: str = "US"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebChatConfig:
        return cls(
            rate_limit=settings.webchat_rate_limit_messages,
            rate_window=timedelta(seconds=settings.webchat_rate_limit_seconds),
            poll_seconds=settings.webchat_poll_seconds,
            stream_seconds=settings.webchat_stream_seconds,
            default_region=settings.default_phone_region,
        )


@dataclass(frozen=True)
class Received:
    accepted: MessageAccepted
    due_at: datetime | None  # when the conversation's turn is due, for the worker


def quick_replies(options: list[QuickReplyOption]) -> list[QuickReply]:
    return [QuickReply(label=option.label, payload=option.says) for option in options]


class WebChat:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession],
        rules: Callable[[], Guardrails],
        config: WebChatConfig,
    ) -> None:
        self.sessions = sessions
        self.readers = readers
        self.rules = rules
        self.config = config
        self.hub = StreamHub(readers, config.poll_seconds)
        self.adapter = WebChatChannel(
            self, lambda: quick_replies(self.rules().webchat.product_quick_replies)
        )

    def start(self) -> None:
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    # --- the channel adapter's mailbox ---------------------------------------------------

    async def post(self, address: str, entry: NewEntry, idempotency_key: str) -> Posted:
        async with transaction(self.sessions) as session:
            posted = await mailbox.post_once(
                await session.connection(), address, entry, idempotency_key, clock.now()
            )
        self.hub.publish(address)
        return posted

    # --- the visitor's side --------------------------------------------------------------

    async def open_session(self, anonymous_id: str | None) -> SessionCreated:
        copy = self.rules().webchat
        greeting = NewEntry(
            sender=Sender.BOT, text=copy.greeting, buttons=quick_replies(copy.quick_replies)
        )
        async with transaction(self.sessions) as session:
            return await mailbox.open_session(
                await session.connection(),
                anonymous_id or mailbox.new_anonymous_id(),
                greeting,
                clock.now(),
            )

    async def authenticate(self, session_id: str, token: str) -> VisitorSession | None:
        async with self.readers() as session:
            return await mailbox.authenticate(await session.connection(), session_id, token)

    async def receive(
        self, visitor: VisitorSession, message: VisitorMessage, *, burst_window: timedelta
    ) -> Received:
        """Store the message in the pipeline's inbox and the visitor's mailbox, in one
        transaction; a resent ``client_message_id`` is accepted again and stored once.
        Raises :class:`RateLimited`."""
        inbound = inbound_message(visitor.id, visitor.anonymous_id, message)
        key = inbound.provider_message_id
        now = clock.now()
        async with transaction(self.sessions) as session:
            conn = await session.connection()
            last = await mailbox.lock_visitor(conn, visitor.anonymous_id, now)
            before = await mailbox.posted_before(conn, key)
            if before is not None:
                return Received(MessageAccepted(seq=before.seq, duplicate=True), None)
            await mailbox.check_rate(
                conn, visitor.id, self.config.rate_limit, self.config.rate_window, now
            )
            accepted = await accept_inbound(
                session,
                inbound,
                now=now,
                burst_window=burst_window,
                default_region=self.config.default_region,
            )
            shown = message.said
            if message.payload is not None:
                shown = await mailbox.button_label(conn, visitor.anonymous_id, shown) or shown
            posted = await mailbox.insert_entry(
                conn,
                visitor.anonymous_id,
                last + 1,
                NewEntry(sender=Sender.SHOPPER, text=shown),
                now,
                session_id=visitor.id,
                key=key,
            )
        self.hub.publish(visitor.anonymous_id)
        due_at = accepted.due_at if accepted.outcome is Acceptance.NEW else None
        return Received(MessageAccepted(seq=posted.seq, duplicate=False), due_at)

    async def entries(self, anonymous_id: str, after: int, limit: int) -> list[ChatEntry]:
        async with self.readers() as session:
            return await mailbox.read_entries(
                await session.connection(), anonymous_id, after, limit
            )

    async def _news(self, anonymous_id: str, after: int) -> tuple[list[ChatEntry], bool]:
        """The entries after ``after`` and whether the bot is answering, in one session."""
        async with self.readers() as session:
            conn = await session.connection()
            batch = await mailbox.read_entries(conn, anonymous_id, after, STREAM_BATCH)
            return batch, await mailbox.bot_is_answering(conn, anonymous_id)

    async def stream(self, visitor: VisitorSession, after: int) -> AsyncIterator[bytes]:
        """Server-sent events: every entry after ``after`` as it is stored, and whether the bot
        is working on an answer. Ends after ``stream_seconds``; the browser reconnects with
        ``Last-Event-ID`` and misses nothing."""
        config = self.config
        yield events.retry(RECONNECT_MS)
        deadline = time.monotonic() + config.stream_seconds
        written = time.monotonic()
        typing = False
        with self.hub.subscribe(visitor.anonymous_id, after) as subscription:
            while True:
                batch, answering = await self._news(visitor.anonymous_id, subscription.position)
                for entry in batch:
                    yield events.entry_event(entry)
                    subscription.position = entry.seq
                if len(batch) == STREAM_BATCH:
                    continue
                if answering != typing:
                    typing = answering
                    yield events.typing_event(typing)
                    written = time.monotonic()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if time.monotonic() - written >= config.heartbeat_seconds:
                    yield events.HEARTBEAT
                    written = time.monotonic()
                # While the bot is answering, look again soon: its turn may end without a
                # message (a person took the conversation over, an opt-out).
                wait = config.poll_seconds if typing else config.heartbeat_seconds
                await subscription.wait(min(wait, left))
