"""A visitor's message as the pipeline's ``InboundMessage``.

The dedupe key is the session and the page's own message id: a page that resends after a lost
answer is stored once, and two visitors who happen to pick the same id never meet.
"""

from __future__ import annotations

from channels.messages import ChannelName, InboundKind, InboundMessage
from channels.webchat.wire import VisitorMessage


def provider_message_id(session_id: str, message: VisitorMessage) -> str:
    return f"{session_id}:{message.client_message_id}"


def inbound_message(session_id: str, anonymous_id: str, message: VisitorMessage) -> InboundMessage:
    """Replies go to the visitor (every session of theirs reads one mailbox); a pressed quick
    reply is a button press, like Telegram's, whose payload is the turn's text."""
    return InboundMessage(
        channel=ChannelName.WEBCHAT,
        provider_message_id=provider_message_id(session_id, message),
        address=anonymous_id,
        sender_id=anonymous_id,
        kind=InboundKind.TEXT if message.text is not None else InboundKind.CALLBACK,
        text=message.said,
        raw={"session_id": session_id, "client_message_id": message.client_message_id},
    )
