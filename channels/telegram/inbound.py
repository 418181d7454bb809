"""Telegram updates to ``InboundMessage``: an aiogram ``Dispatcher`` routes each update kind.

Every update gets a defined result: an ``InboundMessage`` (whose kind tells the pipeline what
to do) or None for updates a shop bot has nothing to say to (channel posts, membership changes,
polls). The dedupe key is the ``update_id``, which Telegram repeats when it retries a webhook.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import CallbackQuery, Message, Update, User

from channels.messages import ChannelName, InboundKind, InboundMessage

PRIVATE = "private"


def _name(user: User | None) -> str | None:
    if user is None:
        return None
    return " ".join(part for part in (user.first_name, user.last_name) if part) or None


def _kind(message: Message) -> InboundKind:
    if message.text is not None:
        return InboundKind.COMMAND if message.text.startswith("/") else InboundKind.TEXT
    if message.contact is not None:
        return InboundKind.CONTACT
    if message.location is not None or message.venue is not None:
        return InboundKind.LOCATION
    if message.photo:
        return InboundKind.PHOTO
    if message.sticker is not None:
        return InboundKind.STICKER
    if message.voice is not None or message.audio is not None or message.video_note is not None:
        return InboundKind.VOICE
    if message.document is not None or message.video is not None or message.animation:
        return InboundKind.MEDIA
    return InboundKind.UNSUPPORTED


def _from_message(update_id: int, message: Message, kind: InboundKind | None) -> InboundMessage:
    sender = message.from_user
    sender_id = str(sender.id) if sender else str(message.chat.id)
    if message.chat.type != PRIVATE:
        kind = InboundKind.GROUP
    kind = kind or _kind(message)
    contact_phone = None
    # Only the shopper's own contact links a phone to them: sharing someone else's card must
    # never attach that person's profile to this chat.
    if message.contact and sender and message.contact.user_id == sender.id:
        contact_phone = message.contact.phone_number
    return InboundMessage(
        channel=ChannelName.TELEGRAM,
        provider_message_id=f"update:{update_id}",
        address=str(message.chat.id),
        sender_id=sender_id,
        kind=kind,
        text=message.text if message.text is not None else message.caption,
        sender_name=_name(sender),
        contact_phone=contact_phone,
        sent_at=message.date.astimezone(UTC) if message.date else None,
    )


def _from_callback(update_id: int, query: CallbackQuery) -> InboundMessage:
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    return InboundMessage(
        channel=ChannelName.TELEGRAM,
        provider_message_id=f"update:{update_id}",
        address=str(chat_id),
        sender_id=str(query.from_user.id),
        kind=InboundKind.CALLBACK,
        text=query.data,
        sender_name=_name(query.from_user),
        raw={"callback_query_id": query.id},
    )


def build_update_dispatcher() -> Dispatcher:
    """A Dispatcher whose handlers return the ``InboundMessage`` for each update."""
    router = Router(name="chatcommerce-inbound")

    @router.message()
    async def on_message(message: Message, event_update: Update) -> InboundMessage:
        return _from_message(event_update.update_id, message, None)

    @router.edited_message()
    async def on_edit(message: Message, event_update: Update) -> InboundMessage:
        return _from_message(event_update.update_id, message, InboundKind.EDITED)

    @router.callback_query()
    async def on_callback(query: CallbackQuery, event_update: Update) -> InboundMessage:
        return _from_callback(event_update.update_id, query)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


class TelegramUpdateParser:
    """Validates a webhook body as a Telegram ``Update`` and routes it to an ``InboundMessage``."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._dispatcher = build_update_dispatcher()

    def validate(self, body: dict[str, Any]) -> Update:
        """Raises pydantic's ``ValidationError`` when the body is not an Update."""
        return Update.model_validate(body, context={"bot": self._bot})

    async def parse(self, update: Update) -> InboundMessage | None:
        result = await self._dispatcher.feed_update(self._bot, update)
        if result is UNHANDLED or not isinstance(result, InboundMessage):
            return None
        return result.model_copy(update={"raw": result.raw | {"update": _jsonable(update)}})


def _jsonable(update: Update) -> dict[str, Any]:
    return update.model_dump(mode="json", exclude_none=True, exclude_unset=True)
