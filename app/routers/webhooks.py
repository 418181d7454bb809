"""Provider webhooks: verify, persist and dedupe, answer at once; the worker replies later.

Each request is verified before anything is stored (401 without a signature or secret, 403
with a wrong one). A stored message is committed before the provider gets its 200, so an
acknowledged message survives a crash; the provider's retry of it is acknowledged and ignored.
A database that stays locked (SQLite, past its retries) answers 503 with Retry-After: nothing
was acknowledged, so the provider's retry loses nothing (see app/database_busy.py).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.container import Container
from app.database_busy import DATABASE_BUSY_RESPONSE
from app.deps import ContainerDep
from channels.messages import (
    ChannelName,
    IgnoredStatus,
    InboundKind,
    InboundMessage,
    StatusUpdate,
)
from channels.twilio.inbound import TwilioPayloadError, parse_twilio_form
from conversations.inbox import Acceptance, Accepted, InboundRejected, accept_inbound
from conversations.status import apply_status
from profile_store import clock
from profile_store.database import run_transaction

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000


def _require_channel(container: Container, channel: ChannelName) -> None:
    if channel in container.channels.missing:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"the {channel.value} channel is off: {container.channels.missing[channel]}",
        )


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "body is larger than 1 MB")
    return body


async def _accept(container: Container, message: InboundMessage) -> Accepted:
    settings = container.settings
    now = clock.now()

    async def store(session: AsyncSession) -> Accepted:
        return await accept_inbound(
            session,
            message,
            now=now,
            burst_window=container.conversations.config.burst_window,
            default_region=settings.default_phone_region,
        )

    try:
        accepted = await run_transaction(container.sessions, store, name="webhook.inbound")
    except InboundRejected as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if accepted.outcome is Acceptance.NEW:
        container.conversations.notify(accepted.due_at)
    log.info(
        "webhook.inbound",
        channel=message.channel.value,
        kind=message.kind.value,
        outcome=accepted.outcome.value,
        conversation_id=accepted.conversation_id,
    )
    return accepted


@router.post(
    "/telegram",
    summary="Telegram Bot API webhook (set it with setWebhook and a secret_token)",
    responses={
        401: {"description": "X-Telegram-Bot-Api-Secret-Token missing"},
        403: {"description": "X-Telegram-Bot-Api-Secret-Token wrong"},
        404: {"description": "Telegram is not configured"},
        503: DATABASE_BUSY_RESPONSE,
    },
)
async def telegram_webhook(request: Request, container: ContainerDep) -> Any:
    _require_channel(container, ChannelName.TELEGRAM)
    channels = container.channels
    assert channels.telegram_parser is not None and channels.telegram_secret is not None
    secret = request.headers.get(TELEGRAM_SECRET_HEADER)
    if not secret:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{TELEGRAM_SECRET_HEADER} is missing")
    if not hmac.compare_digest(secret.encode(), channels.telegram_secret.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{TELEGRAM_SECRET_HEADER} is wrong")
    try:
        body = orjson.loads(await _body(request))
    except orjson.JSONDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "body is not a Telegram Update")
    try:
        update = channels.telegram_parser.validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"not a Telegram Update: {problems}"
        ) from None
    message = await channels.telegram_parser.parse(update)
    if message is None:
        return {}  # an update kind a shop bot has nothing to say to
    await _accept(container, message)
    if message.kind is InboundKind.CALLBACK:
        # Answering in the webhook response stops the button's spinner without an API call.
        return {
            "method": "answerCallbackQuery",
            "callback_query_id": message.raw["callback_query_id"],
        }
    return {}


async def _twilio(request: Request, container: Container, channel: ChannelName) -> Response:
    _require_channel(container, channel)
    verifier = container.channels.twilio_verifier
    assert verifier is not None
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Twilio webhooks are application/x-www-form-urlencoded",
        )
    try:
        form = dict(parse_qsl((await _body(request)).decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not UTF-8") from None
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "X-Twilio-Signature is missing")
    if not verifier.verify(request.url.path, request.url.query, form, signature):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "X-Twilio-Signature does not match; check CHATCOMMERCE_PUBLIC_URL is the URL "
            "Twilio calls",
        )
    try:
        parsed = parse_twilio_form(channel, form)
    except TwilioPayloadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if isinstance(parsed, IgnoredStatus):
        fields = {
            "channel": channel.value,
            "status": parsed.status,
            "provider_message_id": parsed.provider_message_id,
        }
        if parsed.known:
            log.info("webhook.status_ignored", **fields)
        else:  # newer than this code: worth a look, but no reason for Twilio to retry
            log.warning("webhook.status_unknown", **fields)
    elif isinstance(parsed, StatusUpdate):
        update = parsed

        async def store(session: AsyncSession) -> None:
            await apply_status(
                session,
                update,
                now=clock.now(),
                default_region=container.settings.default_phone_region,
            )

        await run_transaction(container.sessions, store, name="webhook.status")
    else:
        await _accept(container, parsed)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/twilio/sms",
    summary="Twilio SMS: inbound messages and status callbacks",
    responses={503: DATABASE_BUSY_RESPONSE},
)
async def twilio_sms_webhook(request: Request, container: ContainerDep) -> Response:
    return await _twilio(request, container, ChannelName.SMS)


@router.post(
    "/twilio/whatsapp",
    summary="Twilio WhatsApp: inbound messages and status callbacks",
    responses={503: DATABASE_BUSY_RESPONSE},
)
async def twilio_whatsapp_webhook(request: Request, container: ContainerDep) -> Response:
    return await _twilio(request, container, ChannelName.WHATSAPP)
