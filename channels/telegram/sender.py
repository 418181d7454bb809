"""Sending to Telegram through aiogram's ``Bot``: text in parts, product cards as photos."""

from __future__ import annotations

from collections import OrderedDict

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from channels.messages import ChannelName, OutboundMessage, ProductCard, SendResult
from channels.telegram.format import card_caption, escape, message_parts

_REMEMBERED_SENDS = 10_000


def create_bot(token: str, api_url: str) -> Bot:
    """A Bot talking to ``api_url`` (Telegram, a local Bot API server, or a test fake)."""
    return Bot(
        token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


class TelegramChannel:
    """One message may take several Bot API calls (long text, several cards). Telegram has no
    idempotency key, so the parts already sent for an idempotency key are remembered and a
    retry resumes after them instead of repeating them."""

    channel = ChannelName.TELEGRAM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._done: OrderedDict[str, list[str]] = OrderedDict()

    async def send(self, message: OutboundMessage) -> SendResult:
        done = self._done.setdefault(message.idempotency_key, [])
        self._done.move_to_end(message.idempotency_key)
        while len(self._done) > _REMEMBERED_SENDS:
            self._done.popitem(last=False)
        steps: list[str | ProductCard] = [*message_parts(message.full_text), *message.cards]
        try:
            for step in steps[len(done) :]:
                sent = await self._send_step(message.address, step)
                done.append(f"{sent.chat.id}:{sent.message_id}")
        except TelegramRetryAfter as exc:
            return self._failed(done, exc, retryable=True, retry_after=float(exc.retry_after))
        except (TelegramServerError, TelegramNetworkError) as exc:
            return self._failed(done, exc, retryable=True)
        except TelegramForbiddenError as exc:
            return self._failed(done, exc, code="blocked_by_user")
        except TelegramAPIError as exc:
            return self._failed(done, exc)
        self._done.pop(message.idempotency_key, None)
        return SendResult(ok=True, provider_message_ids=done)

    async def _send_step(self, chat_id: str, step: str | ProductCard) -> Message:
        if isinstance(step, str):
            return await self.bot.send_message(chat_id=chat_id, text=step)
        keyboard = None
        if step.url:
            keyboard = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="View product", url=step.url)]]
            )
        if step.image_url:
            return await self.bot.send_photo(
                chat_id=chat_id,
                photo=step.image_url,
                caption=card_caption(step),
                reply_markup=keyboard,
            )
        price = step.price_text
        text = f"<b>{escape(step.title)}</b>" + (f"\n{escape(price)}" if price else "")
        return await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=keyboard)

    @staticmethod
    def _failed(
        done: list[str],
        exc: TelegramAPIError,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> SendResult:
        return SendResult(
            ok=False,
            provider_message_ids=list(done),
            error=f"telegram: {exc.message}",
            error_code=code or type(exc).__name__,
            retryable=retryable,
            retry_after=retry_after,
        )

    async def close(self) -> None:
        await self.bot.session.close()
