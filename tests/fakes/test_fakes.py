"""Prove the fakes speak the real wire formats by driving the real aiogram and twilio clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNotFound, TelegramRetryAfter, TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from tests.fakes.server import serve
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import FakeTwilioApi

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SID = "AC" + "0" * 32
AUTH = "secret-token"


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegramApi, Bot]]:
    fake = FakeTelegramApi()
    async with serve(fake.app) as base_url:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
        yield fake, bot
        await bot.session.close()


async def twilio_client(base_url: str, token: str = AUTH) -> Client:
    """A real async twilio Client whose Api domain points at the fake."""
    client = Client(SID, token, http_client=AsyncTwilioHttpClient())
    client.api.base_url = base_url
    return client


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilioApi, str]]:
    fake = FakeTwilioApi(SID, AUTH)
    async with serve(fake.app) as base_url:
        yield fake, base_url


async def test_aiogram_send_message(telegram: tuple[FakeTelegramApi, Bot]) -> None:
    fake, bot = telegram
    message = await bot.send_message(chat_id=111, text="hi")
    assert message.text == "hi"
    assert message.chat.id == 111
    assert message.from_user is not None and message.from_user.is_bot
    [call] = fake.sent
    assert (call.token, call.method, call.params["chat_id"]) == (TOKEN, "sendMessage", "111")
    me = await bot.get_me()
    assert me.id == 42


async def test_aiogram_send_photo_with_keyboard(telegram: tuple[FakeTelegramApi, Bot]) -> None:
    fake, bot = telegram
    button = InlineKeyboardButton(text="Buy", url="https://shop.example/p/1")
    markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    message = await bot.send_photo(
        chat_id=111, photo="https://img.example/1.jpg", caption="Nice", reply_markup=markup
    )
    assert message.caption == "Nice"
    assert message.photo and message.photo[-1].width == 800
    assert message.reply_markup == markup
    call = fake.sent[-1]
    assert call.params["photo"] == "https://img.example/1.jpg"
    assert call.json("reply_markup") == {
        "inline_keyboard": [[{"text": "Buy", "url": "https://shop.example/p/1"}]]
    }


async def test_aiogram_errors(telegram: tuple[FakeTelegramApi, Bot]) -> None:
    fake, bot = telegram
    fake.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(chat_id=111, text="hi")
    assert retry.value.retry_after == 3
    fake.fail_next("sendMessage", 500)
    with pytest.raises(TelegramServerError):
        await bot.send_message(chat_id=111, text="hi")

    class Bogus(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "bogusMethod"

    with pytest.raises(TelegramNotFound):
        await bot(Bogus())
    assert [c.failed for c in fake.calls] == [True, True, True]
    assert fake.sent == []


async def test_twilio_create_and_fetch(twilio: tuple[FakeTwilioApi, str]) -> None:
    fake, base_url = twilio
    client = await twilio_client(base_url)
    try:
        msg = await client.messages.create_async(
            to="+15551230000",
            from_="+15557654321",
            body="hello",
            media_url=["https://img.example/1.jpg", "https://img.example/2.jpg"],
        )
        assert msg.sid is not None and msg.sid.startswith("SM") and len(msg.sid) == 34
        assert (msg.status, msg.num_media, msg.date_created is not None) == ("queued", "2", True)
        [req] = fake.sent
        assert req.get("Body") == "hello" and req.get("To") == "+15551230000"
        assert req.params["MediaUrl"] == ["https://img.example/1.jpg", "https://img.example/2.jpg"]
        fetched = await client.messages(msg.sid).fetch_async()
        assert fetched.body == "hello"
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]


async def test_twilio_content_template(twilio: tuple[FakeTwilioApi, str]) -> None:
    fake, base_url = twilio
    client = await twilio_client(base_url)
    variables = json.dumps({"1": "Ada", "2": "order 7"})
    try:
        await client.messages.create_async(
            to="whatsapp:+15551230000",
            from_="whatsapp:+15557654321",
            content_sid="HX" + "1" * 32,
            content_variables=variables,
        )
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]
    req = fake.sent[-1]
    assert req.get("ContentSid") == "HX" + "1" * 32
    assert json.loads(req.get("ContentVariables") or "") == {"1": "Ada", "2": "order 7"}


async def test_twilio_errors(twilio: tuple[FakeTwilioApi, str]) -> None:
    fake, base_url = twilio
    client = await twilio_client(base_url)
    bad = await twilio_client(base_url, token="wrong")
    try:
        fake.fail_next(429, code=20429, message="Too Many Requests")
        with pytest.raises(TwilioRestException) as exc:
            await client.messages.create_async(to="+15551230000", from_="+1555", body="x")
        assert (exc.value.status, exc.value.code) == (429, 20429)
        with pytest.raises(TwilioRestException) as exc:
            await bad.messages.create_async(to="+15551230000", from_="+1555", body="x")
        assert (exc.value.status, exc.value.code) == (401, 20003)
        with pytest.raises(TwilioRestException) as exc:
            await client.messages("SM" + "f" * 32).fetch_async()
        assert exc.value.status == 404
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]
        await bad.http_client.close()  # type: ignore[attr-defined]
    assert [r.failed for r in fake.requests] == [True, True]
    assert fake.sent == []
