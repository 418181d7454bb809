"""``handoff_to_human``: a person takes the conversation; the bot stays silent until released.

The conversation's owner becomes ``human``: the pipeline then stores the shopper's messages
without answering them, and the eligibility engine holds automated messages to this customer
(reason ``human_owned``) until the conversation is released by the API. The person who picks it
up sees why and what was said: the conversation is flagged for attention with the reason, and a
note with the summary goes into its thread (a message with direction ``note``, shown in the
inbox and never delivered).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import run_transaction
from profile_store.models import Conversation, Decision, Message, new_id
from tools.agent_tools.shopper import Shopper, ToolServices

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]
NOTE_DIRECTION = "note"  # in the thread for the people reading it; never delivered
HANDOFF_NOTE = "handoff"


def handoff_note(request: HandoffRequest) -> str:
    reason = request.reason or "the shopper asked for a person"
    return f"Handed over: {reason}\n{request.summary}".strip()


class HandoffRequest(BaseModel):
    reason: str = Field(default="", max_length=300)
    summary: str = Field(default="", max_length=2000)


class HandoffAnswer(BaseModel):
    handed_off: bool
    note: str


async def handoff_to_human(
    services: ToolServices, shopper: Shopper, request: HandoffRequest, now: datetime
) -> HandoffAnswer:
    if shopper.conversation_id is None:
        return HandoffAnswer(handed_off=False, note="no conversation to hand over")

    async def hand_over(session: AsyncSession) -> None:
        conn = await session.connection()
        await conn.execute(
            update(CONVERSATIONS)
            .where(
                CONVERSATIONS.c.id == shopper.conversation_id,
                CONVERSATIONS.c.customer_id == shopper.customer_id,
            )
            .values(
                owner="human",
                attention=f"handed over: {request.reason or 'the shopper asked for a person'}"[
                    :1000
                ],
                attention_at=now,
            )
        )
        channel = await conn.scalar(
            select(CONVERSATIONS.c.channel).where(CONVERSATIONS.c.id == shopper.conversation_id)
        )
        if channel is not None:
            await conn.execute(
                MESSAGES.insert().values(
                    conversation_id=shopper.conversation_id,
                    channel=channel,
                    direction=NOTE_DIRECTION,
                    kind=HANDOFF_NOTE,
                    text=handoff_note(request),
                    payload={"reason": request.reason, "summary": request.summary},
                    status="handled",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        await conn.execute(
            DECISIONS.insert().values(
                id=new_id("dec"),
                customer_id=shopper.customer_id,
                trigger="conversation",
                program="handoff",
                action="handoff_to_human",
                channel=shopper.channel.value,
                product_ids=[],
                verdict="handed_off",
                reasons=[{"code": "shopper_request", "detail": request.reason or "asked"}],
                held_out=False,
                details={
                    "conversation_id": shopper.conversation_id,
                    "reason": request.reason,
                    "summary": request.summary,
                },
                outcome="handed_off",
                outcome_reasons=[],
                created_at=now,
            )
        )

    await run_transaction(services.writers, hand_over, name="tool.handoff_to_human")
    return HandoffAnswer(
        handed_off=True, note="a colleague will reply in this conversation; the bot is paused"
    )
