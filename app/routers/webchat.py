"""Web chat over HTTP: sessions, the visitor's messages, their history and its live stream, the
page at ``/`` and the embeddable widget.

A message is stored (in the pipeline's inbox and the visitor's mailbox) before the ``202``, and
answered by the conversation worker like any channel's. A session's token is the only way to
its messages: a wrong one is ``401``, whether the session exists or not.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.deps import ContainerDep, get_container
from app.webchat.service import RateLimited, VisitorSession, WebChat
from channels.webchat.wire import (
    ChatHistory,
    MessageAccepted,
    SessionCreated,
    SessionRequest,
    VisitorMessage,
)

log = structlog.get_logger(__name__)
router = APIRouter(tags=["web chat"])
STATIC = Path(__file__).resolve().parent.parent / "webchat" / "static"
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="WebChatSession",
    description="The session token from `POST /webchat/v1/sessions`: `Authorization: Bearer …`",
)
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, a wrong one, or no such session"},
    404: {"description": "Web chat is off on this deployment"},
}
# Read once at start-up: no file I/O on the event loop.
WIDGET_JS = (STATIC / "widget.js").read_bytes()
PAGE_HTML = (STATIC / "index.html").read_text()
# The page: no inline script, nothing from elsewhere but product images.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' https: http: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _webchat(request: Request) -> WebChat:
    webchat = get_container(request).webchat
    if webchat is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "web chat is off: set CHATCOMMERCE_WEBCHAT_ENABLED=true"
        )
    return webchat


WebChatDep = Annotated[WebChat, Depends(_webchat)]


def _refused(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"}
    )


async def _session(
    session_id: str,
    webchat: WebChatDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> VisitorSession:
    if credentials is None:
        raise _refused("missing session token: send 'Authorization: Bearer <token>'")
    return await _check(webchat, session_id, credentials.credentials)


async def _check(webchat: WebChat, session_id: str, token: str) -> VisitorSession:
    visitor = await webchat.authenticate(session_id, token)
    if visitor is None:
        raise _refused("wrong session token, or no such session")
    return visitor


async def _reading_session(
    session_id: str,
    webchat: WebChatDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None,
        Query(
            description="The session token, for clients that cannot send headers "
            "(a browser's EventSource)"
        ),
    ] = None,
) -> VisitorSession:
    given = credentials.credentials if credentials is not None else token
    if not given:
        raise _refused("missing session token: send 'Authorization: Bearer <token>' or ?token=")
    return await _check(webchat, session_id, given)


Visitor = Annotated[VisitorSession, Depends(_session)]
Reader = Annotated[VisitorSession, Depends(_reading_session)]


@router.post(
    "/webchat/v1/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionCreated,
    summary="Open a web chat session (continue a visitor with their anonymous_id)",
    responses={404: {"description": "Web chat is off on this deployment"}},
)
async def create_session(webchat: WebChatDep, body: SessionRequest | None = None) -> Any:
    return await webchat.open_session(body.anonymous_id if body else None)


@router.post(
    "/webchat/v1/sessions/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageAccepted,
    summary="Send the visitor's message, or the quick reply they pressed",
    responses={
        **UNAUTHORIZED,
        422: {"description": "Empty, longer than 4,000 characters, or not one of text/payload"},
        429: {"description": "Too many messages from this session; see Retry-After"},
    },
)
async def send_message(
    body: VisitorMessage, visitor: Visitor, webchat: WebChatDep, container: ContainerDep
) -> Any:
    try:
        received = await webchat.receive(
            visitor, body, burst_window=container.conversations.config.burst_window
        )
    except RateLimited as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            headers={"Retry-After": str(math.ceil(exc.retry_after))},
        ) from None
    container.conversations.notify(received.due_at)
    log.info(
        "webchat.inbound",
        session_id=visitor.id,
        seq=received.accepted.seq,
        duplicate=received.accepted.duplicate,
    )
    return received.accepted


@router.get(
    "/webchat/v1/sessions/{session_id}/messages",
    response_model=ChatHistory,
    summary="The visitor's messages after seq N, in order",
    responses=UNAUTHORIZED,
)
async def read_messages(
    visitor: Reader,
    webchat: WebChatDep,
    after: Annotated[int, Query(ge=0, description="Only messages after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Any:
    return ChatHistory(messages=await webchat.entries(visitor.anonymous_id, after, limit))


@router.get(
    "/webchat/v1/sessions/{session_id}/stream",
    summary="Server-sent events: each message as it is stored (event `message`, id = seq) and "
    "whether the bot is answering (event `typing`)",
    response_class=StreamingResponse,
    responses={
        **UNAUTHORIZED,
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
    },
)
async def stream(
    visitor: Reader,
    webchat: WebChatDep,
    after: Annotated[int, Query(ge=0, description="Start after this seq")] = 0,
    last_event_id: Annotated[str | None, Header(description="Sent by EventSource on reconnect")] = (
        None
    ),
) -> StreamingResponse:
    start = after
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())  # a reconnect resumes where the browser was
    return StreamingResponse(
        webchat.stream(visitor, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/webchat/widget.js", include_in_schema=False)
async def widget(_: WebChatDep) -> Response:
    return Response(
        WIDGET_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/", include_in_schema=False)
async def page(_: WebChatDep) -> HTMLResponse:
    return HTMLResponse(
        PAGE_HTML,
        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
    )
