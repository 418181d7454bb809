"""The web chat HTTP contract: what the page sends and what it reads back (names are fixed)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.messages import ProductCard

MAX_TEXT = 4000
# The visitor's key to their history across sessions: long and unguessable, like a session id.
ANONYMOUS_ID = r"^[A-Za-z0-9._:@-]{16,200}$"
CLIENT_MESSAGE_ID = r"^[A-Za-z0-9._:-]{1,100}$"


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anonymous_id: str | None = Field(
        default=None,
        pattern=ANONYMOUS_ID,
        description="Continue this visitor (the shop's own anonymous id, or one a session "
        "returned before): 16 to 200 letters, digits or ._:@-. Left out, a new visitor.",
    )


class SessionCreated(BaseModel):
    session_id: str
    token: str = Field(description="Send it as `Authorization: Bearer …`; it is shown once")
    anonymous_id: str = Field(description="Keep it to continue this visitor in a later session")


class VisitorMessage(BaseModel):
    """What the visitor typed (``text``) or the quick reply they pressed (``payload``)."""

    model_config = ConfigDict(extra="forbid")

    client_message_id: str = Field(
        pattern=CLIENT_MESSAGE_ID,
        description="Unique per message in the session; a resend with the same id is stored once",
    )
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    payload: str | None = Field(default=None, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _one_thing_said(self) -> VisitorMessage:
        given = [value for value in (self.text, self.payload) if value is not None]
        if len(given) != 1:
            raise ValueError("send either text or payload")
        if not given[0].strip():
            raise ValueError("the message is empty")
        return self

    @property
    def said(self) -> str:
        return self.text if self.text is not None else self.payload or ""


class QuickReply(BaseModel):
    """A button under a message: pressing it sends ``payload`` as the visitor's answer."""

    label: str
    payload: str


class Sender(StrEnum):
    SHOPPER = "shopper"
    BOT = "bot"
    HUMAN = "human"


class NewEntry(BaseModel):
    """An entry about to be written to a visitor's mailbox (its number is given then)."""

    sender: Sender
    text: str = ""
    cards: list[ProductCard] = Field(default_factory=list)
    buttons: list[QuickReply] = Field(default_factory=list)


class ChatEntry(BaseModel):
    """One message as the page shows it, numbered in the order the visitor's mailbox got it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    seq: int
    sender: Sender = Field(alias="from")
    text: str
    cards: list[ProductCard] = Field(default_factory=list)
    buttons: list[QuickReply] = Field(default_factory=list)
    created_at: datetime


class ChatHistory(BaseModel):
    messages: list[ChatEntry]


class MessageAccepted(BaseModel):
    seq: int = Field(description="The message's number in the visitor's history")
    duplicate: bool = Field(description="This client_message_id was accepted before")
