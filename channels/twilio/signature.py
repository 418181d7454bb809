"""Checking ``X-Twilio-Signature`` with twilio's own ``RequestValidator``.

Twilio signs the URL it called, which behind a proxy or tunnel is not the URL this process sees,
so the URL is rebuilt from the configured public base URL plus the path and query string.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


class TwilioSignatureVerifier:
    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def public_url(self, path: str, query: str = "") -> str:
        return f"{self._public_url}{path}" + (f"?{query}" if query else "")

    def verify(
        self, path: str, query: str, params: Mapping[str, str], signature: str | None
    ) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(self.public_url(path, query), params, signature))
