"""What the pipeline asks of whoever answers the shopper: the agent (#6) is one such handler."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from channels.messages import ChannelName, ProductCard


class Turn(BaseModel):
    """The shopper's messages since the last answer, debounced into one turn.

    ``customer_id`` comes from identity resolution at the webhook, never from message text.
    """

    conversation_id: str
    customer_id: str
    channel: ChannelName
    address: str
    texts: list[str]
    sender_name: str | None = None

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
