"""An app with all three channels on, pointed at fake Telegram and Twilio servers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from app.container import Container
from app.factory import create_app
from app.settings import Settings
from conversations.handler import Reply, Turn
from tests.fake_providers.server import serve
from tests.fake_providers.telegram_api import FakeTelegramApi
from tests.fake_providers.twilio_api import FakeTwilioApi

# Copies of ../shared/fixtures (real provider payloads; sources and licences in SOURCES.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
TG_SECRET = "tg-secret-token"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-auth-token"
SMS_FROM = "+15005550006"
WA_FROM = "+14155238886"
PUBLIC_URL = "https://shop.example.com"


def fixture(*parts: str) -> Any:
    return json.loads(FIXTURES.joinpath(*parts).read_text())


class EchoHandler:
    """Answers each turn with what it was told, so tests can see turns and their order."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def handle(self, turn: Turn) -> list[Reply]:
        self.turns.append(turn)
        return [Reply(text=f"echo: {turn.text}")]


@dataclass
class Shop:
    app: FastAPI
    http: httpx.AsyncClient
    telegram: FakeTelegramApi
    twilio: FakeTwilioApi
    handler: EchoHandler

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container

    def set_burst_window(self, seconds: float) -> None:
        worker = self.container.conversations
        worker.config = worker.config.model_copy(
            update={"burst_window": timedelta(seconds=seconds)}
        )

    async def telegram_update(
        self, update: dict[str, Any], secret: str | None = TG_SECRET
    ) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.http.post("/webhooks/telegram", json=update, headers=headers)

    async def twilio_form(
        self, channel: str, params: dict[str, str], *, signature: str | None = None
    ) -> httpx.Response:
        path = f"/webhooks/twilio/{channel}"
        if signature is None:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
        return await self.http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )

    async def work(self) -> int:
        """Run the conversation worker until nothing is due; returns conversations handled."""
        total = 0
        while handled := await self.container.conversations.run_once():
            total += handled
        return total


def channel_settings(settings: Settings, telegram_url: str, twilio_url: str) -> Settings:
    values = settings.model_dump() | {
        "public_url": PUBLIC_URL,
        "telegram_bot_token": BOT_TOKEN,
        "telegram_webhook_secret": TG_SECRET,
        "telegram_api_url": telegram_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_sms_from": SMS_FROM,
        "twilio_whatsapp_from": WA_FROM,
        "twilio_api_url": twilio_url,
        "conversation_burst_seconds": 0.0,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def shop(settings: Settings) -> AsyncIterator[Shop]:
    telegram = FakeTelegramApi()
    twilio = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN)
    handler = EchoHandler()
    async with serve(telegram.app) as telegram_url, serve(twilio.app) as twilio_url:
        app = create_app(channel_settings(settings, telegram_url, twilio_url), handler=handler)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="https://shop.example.com"
            ) as http,
        ):
            yield Shop(app, http, telegram, twilio, handler)
