"""The web chat mailbox in SQL: visitors, sessions and the entries their pages show.

Every write to a visitor's mailbox first locks their row and raises ``last_seq``, so one
visitor's entries are numbered in commit order, whichever process writes them: the stored rows
are the truth a page reads after reconnecting, on any API process.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.webchat.sender import Posted
from channels.webchat.tokens import new_token, token_digest, token_matches
from channels.webchat.wire import ChatEntry, NewEntry, QuickReply, Sender, SessionCreated
from conversations.inbox import CONVERSATIONS, MESSAGES
from profile_store.models import (
    Channel,
    MessageStatus,
    WebChatEntry,
    WebChatSession,
    WebChatVisitor,
    new_id,
)

VISITORS: Table = WebChatVisitor.__table__  # type: ignore[attr-defined]
SESSIONS: Table = WebChatSession.__table__  # type: ignore[attr-defined]
ENTRIES: Table = WebChatEntry.__table__  # type: ignore[attr-defined]
# Compared against when a session id is unknown, so a miss takes as long as a wrong token.
_NO_DIGEST = token_digest("")
# How far back a pressed quick reply is looked up to show its label.
_BUTTON_LOOKBACK = 20


@dataclass(frozen=True)
class VisitorSession:
    id: str
    anonymous_id: str


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many messages: try again in {retry_after:.0f} s")
        self.retry_after = retry_after


def new_anonymous_id() -> str:
    return f"anon_{secrets.token_hex(16)}"


async def open_session(
    conn: AsyncConnection, anonymous_id: str, greeting: NewEntry | None, now: datetime
) -> SessionCreated:
    """A new session of the visitor; a visitor whose mailbox is empty is greeted."""
    last = await lock_visitor(conn, anonymous_id, now)
    token = new_token()
    session_id = new_id("wcs")
    await conn.execute(
        SESSIONS.insert().values(
            id=session_id, anonymous_id=anonymous_id, token_hash=token_digest(token), created_at=now
        )
    )
    if greeting is not None and last == 0:
        await insert_entry(conn, anonymous_id, last + 1, greeting, now)
    return SessionCreated(session_id=session_id, token=token, anonymous_id=anonymous_id)


async def authenticate(conn: AsyncConnection, session_id: str, token: str) -> VisitorSession | None:
    row = (
        await conn.execute(
            select(SESSIONS.c.anonymous_id, SESSIONS.c.token_hash).where(
                SESSIONS.c.id == session_id
            )
        )
    ).first()
    if not token_matches(token, row.token_hash if row else _NO_DIGEST) or row is None:
        return None
    return VisitorSession(id=session_id, anonymous_id=row.anonymous_id)


async def lock_visitor(conn: AsyncConnection, anonymous_id: str, now: datetime) -> int:
    """Lock the visitor's row (creating it) until the transaction ends; their ``last_seq``.
    One statement: an upsert that changes nothing still takes the row's lock."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(VISITORS).values(anonymous_id=anonymous_id, last_seq=0, created_at=now)
    unchanged = upsert.on_conflict_do_update(
        index_elements=["anonymous_id"], set_={"last_seq": VISITORS.c.last_seq}
    )
    last = await conn.scalar(unchanged.returning(VISITORS.c.last_seq))
    return int(last or 0)


async def insert_entry(
    conn: AsyncConnection,
    anonymous_id: str,
    seq: int,
    entry: NewEntry,
    now: datetime,
    *,
    session_id: str | None = None,
    key: str | None = None,
) -> Posted:
    """Write entry ``seq``; the caller holds the visitor's lock and read ``seq - 1`` as last."""
    await conn.execute(
        update(VISITORS).where(VISITORS.c.anonymous_id == anonymous_id).values(last_seq=seq)
    )
    entry_id = await conn.scalar(
        ENTRIES.insert()
        .values(
            anonymous_id=anonymous_id,
            seq=seq,
            sender=entry.sender.value,
            session_id=session_id,
            idempotency_key=key,
            text=entry.text,
            cards=[card.model_dump(mode="json") for card in entry.cards],
            buttons=[button.model_dump(mode="json") for button in entry.buttons],
            created_at=now,
        )
        .returning(ENTRIES.c.id)
    )
    return Posted(entry_id=int(entry_id), seq=seq)


async def posted_before(conn: AsyncConnection, key: str) -> Posted | None:
    row = (
        await conn.execute(
            select(ENTRIES.c.id, ENTRIES.c.seq).where(ENTRIES.c.idempotency_key == key)
        )
    ).first()
    return Posted(entry_id=row.id, seq=row.seq, new=False) if row else None


async def post_once(
    conn: AsyncConnection, anonymous_id: str, entry: NewEntry, key: str, now: datetime
) -> Posted:
    """The entry under ``key``, written unless it was before (a retried send)."""
    last = await lock_visitor(conn, anonymous_id, now)
    return await posted_before(conn, key) or await insert_entry(
        conn, anonymous_id, last + 1, entry, now, key=key
    )


async def check_rate(
    conn: AsyncConnection, session_id: str, limit: int, window: timedelta, now: datetime
) -> None:
    """Raises :class:`RateLimited` when the session sent ``limit`` messages within ``window``;
    counted from the stored entries, so every API process enforces one limit."""
    recent = (
        await conn.execute(
            select(ENTRIES.c.created_at)
            .where(ENTRIES.c.session_id == session_id, ENTRIES.c.created_at > now - window)
            .order_by(ENTRIES.c.created_at.desc())
            .limit(limit)
        )
    ).all()
    if len(recent) >= limit:
        frees_at = recent[limit - 1].created_at + window
        raise RateLimited(max((frees_at - now).total_seconds(), 1.0))


async def button_label(conn: AsyncConnection, anonymous_id: str, payload: str) -> str | None:
    """The label of the quick reply that says ``payload``, from the latest offered ones."""
    rows = await conn.execute(
        select(ENTRIES.c.buttons)
        .where(ENTRIES.c.anonymous_id == anonymous_id, ENTRIES.c.sender != Sender.SHOPPER.value)
        .order_by(ENTRIES.c.seq.desc())
        .limit(_BUTTON_LOOKBACK)
    )
    for (buttons,) in rows:
        for button in buttons or []:
            if button.get("payload") == payload:
                return str(button.get("label") or payload)
    return None


async def read_entries(
    conn: AsyncConnection, anonymous_id: str, after: int, limit: int
) -> list[ChatEntry]:
    rows = await conn.execute(
        select(ENTRIES)
        .where(ENTRIES.c.anonymous_id == anonymous_id, ENTRIES.c.seq > after)
        .order_by(ENTRIES.c.seq)
        .limit(limit)
    )
    return [_entry(row) for row in rows]


def _entry(row: Any) -> ChatEntry:
    return ChatEntry(
        seq=row.seq,
        sender=Sender(row.sender),
        text=row.text,
        cards=row.cards,
        buttons=[QuickReply.model_validate(b) for b in row.buttons],
        created_at=row.created_at,
    )


async def last_seqs(conn: AsyncConnection, anonymous_ids: list[str]) -> dict[str, int]:
    rows = await conn.execute(
        select(VISITORS.c.anonymous_id, VISITORS.c.last_seq).where(
            VISITORS.c.anonymous_id.in_(anonymous_ids)
        )
    )
    return {row.anonymous_id: row.last_seq for row in rows}


async def bot_is_answering(conn: AsyncConnection, anonymous_id: str) -> bool:
    """The visitor's messages wait for the bot's turn (a person's conversation shows none)."""
    pending = exists().where(
        MESSAGES.c.conversation_id == CONVERSATIONS.c.id,
        MESSAGES.c.direction == "in",
        MESSAGES.c.status == MessageStatus.PENDING.value,
    )
    found = await conn.scalar(
        select(CONVERSATIONS.c.id).where(
            CONVERSATIONS.c.channel == Channel.WEBCHAT.value,
            CONVERSATIONS.c.address == anonymous_id,
            CONVERSATIONS.c.owner == "bot",
            pending,
        )
    )
    return found is not None
