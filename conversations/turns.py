"""Planning what to do with a conversation's pending messages, in the order they came.

Compliance keywords are handled before anything else can see them. An opt-out also drops what
the shopper said before it in the same burst: answering "hi … STOP" with a chat reply would be
exactly the message they just refused. Non-text messages get one polite notice per kind, so a
burst of five stickers gets one answer, not five.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.keywords import ComplianceKeyword, compliance_keyword
from channels.messages import ChannelName, InboundKind

NOTICES: dict[InboundKind, str] = {
    InboundKind.PHOTO: "Thanks for the picture! I can only read text for now. "
    "Tell me in words what you are looking for and I will find it.",
    InboundKind.STICKER: "Nice one! Tell me what you are looking for and I will find it.",
    InboundKind.VOICE: "I cannot listen to voice messages yet. Could you type your question?",
    InboundKind.MEDIA: "I cannot open files here. Could you type your question instead?",
    InboundKind.LOCATION: "Thanks for the location! Tell me what you need (a store, delivery, "
    "a product) and I will help.",
    InboundKind.UNSUPPORTED: "Sorry, I can only read text messages here. "
    "Could you type your question?",
}
CONTACT_LINKED = "Thanks! Your phone number is now linked to your profile."
CONTACT_NOT_OWN = "To link your number, please share your own contact with me."
TEXT_KINDS = frozenset({InboundKind.TEXT, InboundKind.COMMAND, InboundKind.CALLBACK})


@dataclass(frozen=True)
class PendingMessage:
    id: int
    kind: InboundKind
    text: str | None
    contact_phone: str | None = None
    sender_name: str | None = None


@dataclass(frozen=True)
class KeywordStep:
    keyword: ComplianceKeyword


@dataclass(frozen=True)
class NoticeStep:
    text: str


@dataclass
class HandlerStep:
    texts: list[str] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)

    @property
    def first_id(self) -> int:
        """Stable across retries of the same turn (new messages only ever come after it)."""
        return self.message_ids[0] if self.message_ids else 0


Step = KeywordStep | NoticeStep | HandlerStep


def plan_turn(channel: ChannelName, messages: list[PendingMessage]) -> list[Step]:
    steps: list[Step] = []
    noticed: set[str] = set()

    def add_text(text: str, message_id: int) -> None:
        if steps and isinstance(steps[-1], HandlerStep):
            steps[-1].texts.append(text)
            steps[-1].message_ids.append(message_id)
        else:
            steps.append(HandlerStep(texts=[text], message_ids=[message_id]))

    def add_notice(text: str) -> None:
        if text not in noticed:
            noticed.add(text)
            steps.append(NoticeStep(text))

    for message in messages:
        text = (message.text or "").strip()
        if message.kind in TEXT_KINDS and (keyword := compliance_keyword(channel, text)):
            if keyword is ComplianceKeyword.OPT_OUT:
                steps = [step for step in steps if isinstance(step, KeywordStep)]
                noticed.clear()
            steps.append(KeywordStep(keyword))
        elif message.kind is InboundKind.CONTACT:
            add_notice(CONTACT_LINKED if message.contact_phone else CONTACT_NOT_OWN)
        elif text:  # text, a command, a button, or a photo/file with a caption
            add_text(text, message.id)
        elif message.kind in NOTICES:
            add_notice(NOTICES[message.kind])
        elif message.kind not in TEXT_KINDS:
            add_notice(NOTICES[InboundKind.UNSUPPORTED])
    return steps
