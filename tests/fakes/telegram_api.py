"""Fake Telegram Bot API: records calls and replies in the real `{"ok": ...}` envelope."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER: dict[str, Any] = {"id": 42, "is_bot": True, "first_name": "Shop"}
SEND_METHODS = frozenset({"sendmessage", "sendphoto"})


@dataclass
class TelegramCall:
    """One request to `/bot{token}/{method}`; params are the raw string form values."""

    token: str
    method: str
    params: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    failed: bool = False

    def json(self, key: str) -> Any:
        """Decode a JSON-valued param (reply_markup, entities, ...) as aiogram serialised it."""
        return json.loads(self.params[key])


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None


def _chat(chat_id: str) -> dict[str, Any]:
    if chat_id.lstrip("-").isdigit():
        return {"id": int(chat_id), "type": "private"}
    return {"id": -1001234567890, "type": "channel", "username": chat_id.lstrip("@")}


class FakeTelegramApi:
    """Starlette app serving `/bot{token}/{method}` like api.telegram.org does."""

    def __init__(self) -> None:
        self.calls: list[TelegramCall] = []
        # Static results for simple methods; tests may add more (keys are lower-case).
        self.results: dict[str, Any] = {
            "getme": {**BOT_USER, "username": "shop_bot", "can_join_groups": True},
            "answercallbackquery": True,
            "setwebhook": True,
            "deletewebhook": True,
            "sendchataction": True,
        }
        self._failures: defaultdict[str, deque[_Failure]] = defaultdict(deque)
        self._message_ids = itertools.count(1)
        route = Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])
        self.app = Starlette(routes=[route])

    @property
    def sent(self) -> list[TelegramCall]:
        """Successful sendMessage / sendPhoto calls, in order."""
        return [c for c in self.calls if not c.failed and c.method.lower() in SEND_METHODS]

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next call of `method` fail the way Telegram does (429 carries retry_after)."""
        if description is None:
            description = f"{HTTPStatus(status).phrase}"
            if retry_after is not None:
                description += f": retry after {retry_after}"
        self._failures[method.lower()].append(_Failure(status, description, retry_after))

    async def _handle(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        params: dict[str, str] = dict(request.query_params)
        files: dict[str, bytes] = {}
        async with request.form() as form:  # handles urlencoded and multipart alike
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = await value.read()
                    params[key] = value.filename or key
                else:
                    params[key] = value
        call = TelegramCall(token, method, params, files)
        self.calls.append(call)

        queue = self._failures[method.lower()]
        if queue:
            failure = queue.popleft()
            call.failed = True
            return self._error(failure.status, failure.description, failure.retry_after)
        result = self._result(method.lower(), params)
        if result is None:
            call.failed = True
            return self._error(404, "Not Found: method not found")
        return JSONResponse({"ok": True, "result": result})

    def _result(self, method: str, params: dict[str, str]) -> Any:
        if method not in SEND_METHODS:
            return self.results.get(method)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(params["chat_id"]),
            "from": BOT_USER,
        }
        if method == "sendmessage":
            message["text"] = params["text"]
        else:
            message["photo"] = [
                {
                    "file_id": f"AgAC-{message['message_id']}-{w}",
                    "file_unique_id": f"AQAD{w}",
                    "width": w,
                    "height": w * 3 // 4,
                }
                for w in (90, 320, 800)
            ]
            if "caption" in params:
                message["caption"] = params["caption"]
        if "reply_markup" in params:  # Telegram echoes inline keyboards back on the message
            markup = json.loads(params["reply_markup"])
            if "inline_keyboard" in markup:
                message["reply_markup"] = markup
        return message

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return JSONResponse(body, status_code=status)
