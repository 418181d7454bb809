"""Fake Twilio REST Messages API: Basic auth, form bodies, Twilio-shaped JSON and errors."""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API = "/2010-04-01/Accounts/{account_sid}"


@dataclass
class TwilioRequest:
    """One POST to Messages.json; params keep repeats (MediaUrl may occur many times)."""

    account_sid: str
    params: dict[str, list[str]]
    failed: bool = False

    def get(self, key: str) -> str | None:
        """First value of `key`, or None when absent."""
        values = self.params.get(key)
        return values[0] if values else None


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's legacy error body, which twilio-python turns into TwilioRestException."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more_info, "status": status}
    return JSONResponse(body, status_code=status)


def _segments(body: str) -> int:
    return 1 if len(body) <= 160 else math.ceil(len(body) / 153)


class FakeTwilioApi:
    """Starlette app serving create/fetch of Message resources for one account."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[TwilioRequest] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self._failures: deque[tuple[int, int, str]] = deque()
        self.app = Starlette(
            routes=[
                Route(f"{API}/Messages.json", self._create, methods=["POST"]),
                Route(f"{API}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )

    @property
    def sent(self) -> list[TwilioRequest]:
        """Requests that created a message."""
        return [r for r in self.requests if not r.failed]

    def fail_next(self, status: int, *, code: int, message: str) -> None:
        """Make the next Messages.json POST fail with this Twilio error."""
        self._failures.append((status, code, message))

    def _authorised(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        path_sid = request.path_params["account_sid"]
        return (
            scheme.lower() == "basic"
            and user == path_sid == self.account_sid
            and (password == self.auth_token)
        )

    async def _create(self, request: Request) -> JSONResponse:
        params: dict[str, list[str]] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                params.setdefault(key, []).append(str(value))
        record = TwilioRequest(request.path_params["account_sid"], params, failed=True)
        self.requests.append(record)
        if not self._authorised(request):
            return twilio_error(401, 20003, "Authenticate")
        if self._failures:
            return twilio_error(*self._failures.popleft())
        if not record.get("To"):
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (record.get("From") or record.get("MessagingServiceSid")):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (record.get("Body") or params.get("MediaUrl") or record.get("ContentSid")):
            return twilio_error(400, 21602, "Message body is required.")
        record.failed = False
        message = self._message(record)
        self.messages[message["sid"]] = message
        return JSONResponse(message, status_code=201)

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return twilio_error(401, 20003, "Authenticate")
        message = self.messages.get(request.path_params["sid"])
        if message is None:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(message)

    def _message(self, req: TwilioRequest) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        now = format_datetime(datetime.now(UTC))
        body = req.get("Body") or ""
        service = req.get("MessagingServiceSid")
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": req.get("To"),
            "from": req.get("From"),
            "body": body,
            # Twilio answers "accepted" when only a Messaging Service will pick the sender.
            "status": "accepted" if service and not req.get("From") else "queued",
            "direction": "outbound-api",
            "num_segments": str(_segments(body)),
            "num_media": str(len(req.params.get("MediaUrl", []))),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "api_version": "2010-04-01",
            "uri": uri,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": service,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
        }
