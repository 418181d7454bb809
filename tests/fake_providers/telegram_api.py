"""A fake Telegram Bot API: ``/bot{token}/{method}``, form or multipart in, ``{"ok": …}`` out.

Failures are scripted per method, the way Telegram reports them: HTTP status, ``error_code``,
``description`` and, for 429, ``parameters.retry_after``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER = {"id": 42, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}


@dataclass
class TelegramCall:
    token: str
    method: str
    params: dict[str, str]
    failed: bool = False
    received_at: float = field(default_factory=time.monotonic)

    def json(self, key: str) -> Any:
        return json.loads(self.params[key])


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None


@dataclass
class FakeTelegramApi:
    calls: list[TelegramCall] = field(default_factory=list)
    _failures: dict[str, deque[_Failure]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    delay: float = 0.0
    """Seconds each send takes to be answered, like a slow or distant API."""

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])]
        )

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str = "Internal Server Error",
    ) -> None:
        self._failures[method].append(_Failure(status, description, retry_after))

    @property
    def sent(self) -> list[TelegramCall]:
        return [c for c in self.calls if not c.failed and c.method in ("sendMessage", "sendPhoto")]

    async def _handle(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        method = request.path_params["method"]
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                params |= {k: _text(v) for k, v in (await request.json()).items()}
            else:
                form = await request.form()
                params |= {k: v for k, v in form.items() if isinstance(v, str)}
        call = TelegramCall(token=token, method=method, params=params)
        self.calls.append(call)
        if self.delay and method in ("sendMessage", "sendPhoto"):
            await asyncio.sleep(self.delay)
        if self._failures[method]:
            failure = self._failures[method].popleft()
            call.failed = True
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, status_code=failure.status)
        result = self._result(method, params)
        if result is None:
            call.failed = True
            return JSONResponse(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status_code=404,
            )
        return JSONResponse({"ok": True, "result": result})

    def _result(self, method: str, params: dict[str, str]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "sendChatAction"):
            return True
        if method not in ("sendMessage", "sendPhoto"):
            return None
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
        }
        if method == "sendMessage":
            message["text"] = params.get("text", "")
        else:
            message["photo"] = [
                {"file_id": "AgAD-photo", "file_unique_id": "AQAD", "width": 320, "height": 320}
            ]
            if "caption" in params:
                message["caption"] = params["caption"]
        return message


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
