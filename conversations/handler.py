"""What the pipeline asks of whoever answers the shopper: the agent (#6) is one such handler."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from channels.messages import ChannelName, ProductCard


class HumanDecision(BaseModel):
    """A person's answer to something the handler paused for (a discount approval).

    Queued on the conversation like an inbound message, so it is answered in order, once, and
    survives a crash between the decision and the reply.
    """

    request_id: str
    approved: bool
    decided_by: str
    note: str | None = None


class ThreadNote(BaseModel):
    """Something said in the conversation that was not the bot's answer to a turn: an automated
    message (a cart reminder) or a person's reply from the inbox. Handed to the handler with
    the shopper's next message so its thread knows it ("yes, in 42?" is about that reminder).
    """

    id: int
    text: str
    origin: dict[str, Any] = Field(
        description='automated: program, decision_id, variant, product_ids; a person: "author"'
    )
    created_at: datetime


class HandBackLine(BaseModel):
    role: str = Field(description="shopper or person")
    text: str
    author: str | None = None


class HandBack(BaseModel):
    """A person handed the conversation back: what was said while they had it, so the bot
    knows it and can say it is back."""

    transcript: list[HandBackLine] = Field(default_factory=list)


class Turn(BaseModel):
    """The shopper's messages since the last answer, debounced into one turn, or a person's
    decision the handler was waiting for.

    ``customer_id`` comes from identity resolution at the webhook, never from message text.
    """

    conversation_id: str
    customer_id: str
    channel: ChannelName
    address: str
    texts: list[str]
    sender_name: str | None = None
    decision: HumanDecision | None = None
    handback: HandBack | None = None
    turn_id: str = Field(
        default="",
        description="The same for every try of this turn (its first message), so a handler "
        "can make a retried turn's side effects happen once",
    )
    attempt: int = Field(default=1, ge=1, description="1 for the first try of this turn")
    notes: list[ThreadNote] = Field(
        default_factory=list, description="What was said since, other than the bot's answers"
    )

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class Reply(BaseModel):
    text: str = ""
    cards: list[ProductCard] = Field(default_factory=list)


class ConversationHandler(Protocol):
    async def handle(self, turn: Turn) -> list[Reply]: ...


class HoldingReplyHandler:
    """Answers every turn with one configurable holding message.

    The default until the agent is wired in, and a safe fallback: the shopper always hears
    back, and the conversation is stored for a person to pick up.
    """

    def __init__(
        self, text: str = "Thanks for your message! We will get back to you shortly."
    ) -> None:
        self._text = text

    async def handle(self, turn: Turn) -> list[Reply]:
        return [Reply(text=self._text)]
