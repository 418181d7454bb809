"""``handoff_to_human``: a person takes the conversation; the bot stays silent until released.

The conversation's owner becomes ``human``: the pipeline then stores the shopper's messages
without answering them, and the eligibility engine holds automated messages to this customer
(reason ``human_owned``) until the conversation is released by the API.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store.database import run_transaction
from profile_store.models import Conversation, Decision, new_id
from tools.agent_tools.shopper import Shopper, ToolServices

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
DECISIONS = Decision.__table__  # type: ignore[attr-defined]


class HandoffRequest(BaseModel):
    reason: str = Field(default="", max_length=300)


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
            .values(owner="human")
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
                details={"conversation_id": shopper.conversation_id},
                outcome="handed_off",
                outcome_reasons=[],
                created_at=now,
            )
        )

    await run_transaction(services.writers, hand_over, name="tool.handoff_to_human")
    return HandoffAnswer(
        handed_off=True, note="a colleague will reply in this conversation; the bot is paused"
    )
