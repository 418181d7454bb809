"""Automated messages enter the shopper's conversation, so the next turn knows what was said.

Each send that went out is written to the conversation of its channel and address (created if
the shopper never wrote there) as an outbound message marked with its origin: the program, the
decision, the variant and the products. The conversation worker hands these to the agent with
the shopper's next message, and a reply within the attribution window marks the decision
``replied``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from profile_store.database import insert_ignoring_conflict
from profile_store.models import Conversation, Message, MessageStatus, new_id

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]
AUTOMATED_KIND = "automated"


@dataclass(frozen=True)
class SentMessage:
    send_id: str
    customer_id: str
    channel: str
    address: str
    text: str
    origin: dict[str, Any]
    cards: list[dict[str, Any]]


async def record_in_conversations(
    conn: AsyncConnection, sent: list[SentMessage], now: datetime
) -> None:
    """Write ``sent`` into their conversations: one statement per table, whatever the count
    (this runs inside the send scheduler's settle transaction, once per wave of sends)."""
    if not sent:
        return
    await conn.execute(
        insert_ignoring_conflict(conn, CONVERSATIONS, ["channel", "address"]),
        [
            {
                "id": new_id("cnv"),
                "customer_id": message.customer_id,
                "channel": message.channel,
                "address": message.address,
                "owner": "bot",
                "created_at": now,
            }
            for message in {(m.channel, m.address): m for m in sent}.values()
        ],
    )
    keys = sorted({(m.channel, m.address) for m in sent})
    rows = await conn.execute(
        select(CONVERSATIONS.c.id, CONVERSATIONS.c.channel, CONVERSATIONS.c.address).where(
            CONVERSATIONS.c.channel.in_(sorted({c for c, _ in keys})),
            CONVERSATIONS.c.address.in_(sorted({a for _, a in keys})),
        )
    )
    ids = {(row.channel, row.address): row.id for row in rows}
    await conn.execute(
        insert_ignoring_conflict(conn, MESSAGES, ["idempotency_key"]),
        [
            {
                "conversation_id": ids[(message.channel, message.address)],
                "channel": message.channel,
                "direction": "out",
                "kind": AUTOMATED_KIND,
                "idempotency_key": f"send:{message.send_id}",
                "text": message.text,
                "payload": {"origin": message.origin, "cards": message.cards},
                "status": MessageStatus.SENT.value,
                "attempts": 1,
                "created_at": now,
                "updated_at": now,
            }
            for message in sent
        ],
    )
