"""Which browser pages may call the web chat API: the app's own and the allowed origins.

CORS headers let an allowed shop page read the answers; a request that a browser sends from any
other page (its ``Origin`` says so) is refused outright, so a foreign page cannot even open
sessions in a visitor's name. Only paths under ``/webchat/`` are touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/webchat/"


def same_site(origin: str, host: str | None) -> bool:
    """The page was served by this app (behind a TLS proxy the scheme may differ)."""
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


class WebChatOrigins:
    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = frozenset(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin is None or same_site(origin, headers.get("host")):
            await self.app(scope, receive, send)
        elif self.any or origin.lower() in self.origins:
            await self.cors(scope, receive, send)
        else:
            refused = JSONResponse(
                {
                    "detail": f"origin {origin} may not use web chat: add it to "
                    "CHATCOMMERCE_WEBCHAT_ALLOWED_ORIGINS"
                },
                status_code=403,
            )
            await refused(scope, receive, send)
