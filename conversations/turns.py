"""Planning what to do with a conversation's pending messages, in the order they came.

Compliance keywords are handled before anything else can see them. An opt-out silences the
channel: what the shopper said before it in the same burst is dropped (answering "hi … STOP"
with a chat reply would be exactly the message they just refused), and everything after it goes
unanswered, except help keywords (carriers require an answer) and an opt-in keyword, which
resumes. An opt-in word only counts while the shopper is opted out: otherwise "yes" answering a
question, or the "/start" every Telegram user sends first, is ordinary text for the handler.
Non-text messages get one polite notice per kind, so a burst of five stickers gets one answer,
not five.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.keywords import ComplianceKeyword, KeywordSet
from channels.messages import InboundKind

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


@dataclass
class TurnPlan:
    steps: list[Step]
    unanswered: list[int]  # messages not answered because the shopper opted out here
    opted_out: bool  # whether the shopper is opted out on the channel after this turn


def plan_turn(
    keywords: KeywordSet,
    messages: list[PendingMessage],
    *,
    opted_out: bool = False,
    opt_in_always: bool = False,
) -> TurnPlan:
    """``opted_out``: the shopper's state on the channel before these messages;
    ``opt_in_always``: an opt-in word counts even when they are not opted out (a keyword
    opt-in campaign)."""
    steps: list[Step] = []
    noticed: set[str] = set()
    answerable: list[int] = []  # messages since the last opt-out that steps would answer
    unanswered: list[int] = []

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
        keyword = keywords.match(text) if message.kind in TEXT_KINDS else None
        if keyword is ComplianceKeyword.OPT_IN and not (opted_out or opt_in_always):
            keyword = None
        if keyword is ComplianceKeyword.OPT_OUT:
            steps = [step for step in steps if isinstance(step, KeywordStep)]
            noticed.clear()
            unanswered += answerable
            answerable = []
            opted_out = True
            steps.append(KeywordStep(keyword))
            continue
        if keyword is not None:
            opted_out = opted_out and keyword is not ComplianceKeyword.OPT_IN
            steps.append(KeywordStep(keyword))
            continue
        if opted_out:
            unanswered.append(message.id)
            continue
        answerable.append(message.id)
        if message.kind is InboundKind.CONTACT:
            add_notice(CONTACT_LINKED if message.contact_phone else CONTACT_NOT_OWN)
        elif text:  # text, a command, a button, or a photo/file with a caption
            add_text(text, message.id)
        elif message.kind in NOTICES:
            add_notice(NOTICES[message.kind])
        elif message.kind not in TEXT_KINDS:
            add_notice(NOTICES[InboundKind.UNSUPPORTED])
    return TurnPlan(steps=steps, unanswered=unanswered, opted_out=opted_out)
