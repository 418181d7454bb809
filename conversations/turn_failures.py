"""A turn whose handler failed: try again later, never lose the shopper's question.

The shopper's messages stay pending, each try counted on them (``attempts``) with the error, and
the conversation becomes due again after a backoff. The shopper hears one short holding reply at
the first failure, not one per try. When the last try fails too, they get an apology with a way
forward, the messages are closed with the error, and the conversation is flagged for a person
in the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.messages import ChannelName
from conversations.delivery import QueuedReply
from conversations.handler import Reply
from conversations.inbox import CONVERSATIONS, MESSAGES
from conversations.outbox import queue_replies
from policy.guardrails import Guardrails
from profile_store.models import MessageStatus

log = structlog.get_logger(__name__)


class TurnFailed(Exception):
    """The handler raised or timed out; ``error`` says how, for the log and the inbox."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error[:1000]


@dataclass(frozen=True)
class FailureOutcome:
    queued: list[QueuedReply]
    retry_at: datetime | None  # None: no more tries


async def record_failure(
    conn: AsyncConnection,
    *,
    conversation_id: str,
    channel: ChannelName,
    message_ids: list[int],
    attempt: int,
    error: str,
    delays: list[timedelta],
    rules: Guardrails,
    now: datetime,
) -> FailureOutcome:
    """Inside the worker's fenced transaction: count try ``attempt`` (1-based) as failed."""
    first = min(message_ids)
    tries = len(delays) + 1
    final = attempt >= tries
    changes: dict[str, object] = {"attempts": attempt, "error": error, "updated_at": now}
    if final:
        changes["status"] = MessageStatus.HANDLED.value
    await conn.execute(update(MESSAGES).where(MESSAGES.c.id.in_(message_ids)).values(**changes))
    retry_at = None if final else now + delays[attempt - 1]
    log.warning(
        "conversation.turn_failed",
        conversation_id=conversation_id,
        attempt=attempt,
        tries=tries,
        error=error,
        retry_at=retry_at.isoformat() if retry_at else None,
    )
    if final:
        await conn.execute(
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id)
            .values(
                attention=f"the bot could not answer after {tries} tries: {error}"[:1000],
                attention_at=now,
            )
        )
        text, key = rules.agent.failure_reply, f"failed:{conversation_id}:{first}"
    elif attempt == 1:
        text, key = rules.agent.holding_reply, f"holding:{conversation_id}:{first}"
    else:
        return FailureOutcome(queued=[], retry_at=retry_at)
    queued = await queue_replies(
        conn,
        conversation_id=conversation_id,
        channel=channel,
        replies=[Reply(text=text)],
        key_prefix=key,
        now=now,
    )
    return FailureOutcome(queued=queued, retry_at=retry_at)
