"""Web chat tests: the shop app (fake Telegram and Twilio too), and a visitor talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.webchat.service import WebChat
from tests.channels.conftest import Shop, shop

__all__ = ["EventReader", "Visitor", "open_stream", "shop", "webchat"]
# 16 to 200 characters: the visitor's key to their history.
ANON = "visitor-7f3a9c1e5b2d"


def webchat(shop: Shop) -> WebChat:
    chat = shop.container.webchat
    assert chat is not None
    return chat


def limit_rate(shop: Shop, messages: int, seconds: float = 60.0) -> None:
    chat = webchat(shop)
    chat.config = replace(chat.config, rate_limit=messages, rate_window=timedelta(seconds=seconds))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Visitor:
    """One browser session talking to web chat over HTTP."""

    http: httpx.AsyncClient
    session_id: str
    token: str
    anonymous_id: str
    sent: int = field(default=0)

    @classmethod
    async def open(cls, http: httpx.AsyncClient, anonymous_id: str | None = None) -> Visitor:
        body = {"anonymous_id": anonymous_id} if anonymous_id else {}
        response = await http.post("/webchat/v1/sessions", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return cls(http, data["session_id"], data["token"], data["anonymous_id"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, suffix: str) -> str:
        return f"/webchat/v1/sessions/{self.session_id}{suffix}"

    async def post(self, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return await self.http.post(self.url("/messages"), json=body, headers=headers)

    async def say(self, text: str, client_message_id: str | None = None) -> httpx.Response:
        self.sent += 1
        return await self.post(
            {"client_message_id": client_message_id or f"m{self.sent}", "text": text}
        )

    async def press(self, payload: str) -> httpx.Response:
        self.sent += 1
        return await self.post({"client_message_id": f"m{self.sent}", "payload": payload})

    async def history(self, after: int = 0) -> list[dict[str, Any]]:
        response = await self.http.get(self.url(f"/messages?after={after}"), headers=self.auth)
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def said(self) -> list[tuple[str, str]]:
        return [(m["from"], m["text"]) for m in await self.history()]


@pytest.fixture
async def visitor(shop: Shop) -> AsyncIterator[Visitor]:
    yield await Visitor.open(shop.http, ANON)


@dataclass
class Event:
    event: str
    data: Any
    id: str | None = None


class EventReader:
    """Reads a server-sent events stream in the background, as a browser would."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[Event] = []
        self.ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if "data" in fields:
                        self.events.append(
                            Event(
                                fields.get("event", "message"),
                                json.loads(fields["data"]),
                                fields.get("id"),
                            )
                        )
                        self._changed.set()
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        finally:
            self.ended = True
            self._changed.set()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.event == "message"]

    async def until(self, done: Callable[[EventReader], bool], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while not done(self):
                if self.ended:
                    raise AssertionError(f"the stream ended; events: {self.events}")
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, visitor: Visitor, after: int = 0, last_event_id: str | None = None
) -> AsyncIterator[EventReader]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    async with http.stream(
        "GET",
        visitor.url("/stream"),
        params={"after": after, "token": visitor.token},
        headers=headers,
        timeout=httpx.Timeout(30, read=None),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        try:
            yield reader
        finally:
            await reader.close()
