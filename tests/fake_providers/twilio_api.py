"""A fake Twilio REST API for Messages: Basic auth, form in, Twilio's JSON resources out."""

from __future__ import annotations

import base64
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class TwilioRequest:
    params: dict[str, list[str]]
    failed: bool = False

    def get(self, key: str) -> str | None:
        values = self.params.get(key)
        return values[0] if values else None


@dataclass
class _Failure:
    status: int
    code: int
    message: str


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


@dataclass
class FakeTwilioApi:
    account_sid: str
    auth_token: str
    requests: list[TwilioRequest] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: deque[_Failure] = field(default_factory=deque)

    def __post_init__(self) -> None:
        base = "/2010-04-01/Accounts/{account_sid}/Messages"
        self.app = Starlette(
            routes=[
                Route(base + ".json", self._create, methods=["POST"]),
                Route(base + "/{sid}.json", self._fetch, methods=["GET"]),
            ]
        )

    def fail_next(self, status: int, *, code: int, message: str) -> None:
        self._failures.append(_Failure(status, code, message))

    @property
    def sent(self) -> list[TwilioRequest]:
        return [r for r in self.requests if not r.failed]

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("authorization") == f"Basic {expected}"
            and request.path_params["account_sid"] == self.account_sid
        )

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        form = await request.form()
        params: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            params.setdefault(key, []).append(str(value))
        record = TwilioRequest(params=params)
        self.requests.append(record)
        if self._failures:
            failure = self._failures.popleft()
            record.failed = True
            return _error(failure.status, failure.code, failure.message)
        if not record.get("To") or not (
            record.get("Body") or record.get("ContentSid") or record.get("MediaUrl")
        ):
            record.failed = True
            return _error(400, 21602, "Message body is required.")
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": record.get("To"),
            "from": record.get("From"),
            "body": record.get("Body") or "",
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": str(len(params.get("MediaUrl", []))),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "api_version": "2010-04-01",
            "uri": uri,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }
        self.messages[sid] = resource
        return JSONResponse(resource, status_code=201)

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        resource = self.messages.get(request.path_params["sid"])
        if resource is None:
            return _error(404, 20404, "The requested resource was not found")
        return JSONResponse(resource)
