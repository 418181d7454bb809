"""Sending SMS and WhatsApp messages through twilio's async REST client."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.messages import ChannelName, OutboundMessage, SendResult
from channels.twilio.format import (
    WHATSAPP_PREFIX,
    sms_body,
    whatsapp_card_body,
    whatsapp_text_parts,
)

_REMEMBERED_SENDS = 10_000


def create_twilio_client(account_sid: str, auth_token: str, api_url: str) -> Client:
    """The real twilio client, async, talking to ``api_url`` (Twilio or a test fake).

    Create it inside the running event loop (it opens an aiohttp session)."""
    client = Client(account_sid, auth_token, http_client=AsyncTwilioHttpClient(timeout=15))
    client.api.base_url = api_url.rstrip("/")
    return client


class _Step:
    def __init__(self, **params: Any) -> None:
        self.params = params


class TwilioChannel:
    """Shared by SMS and WhatsApp. The Messages API has no idempotency key, so the parts
    already accepted for an idempotency key are remembered and a retry resumes after them."""

    channel: ChannelName

    def __init__(self, client: Client, sender: str, status_callback: str | None) -> None:
        self.client = client
        self.sender = sender
        self.status_callback = status_callback
        self._done: OrderedDict[str, list[str]] = OrderedDict()

    def steps(self, message: OutboundMessage) -> list[_Step]:
        raise NotImplementedError

    def recipient(self, address: str) -> str:
        return address

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            steps = self.steps(message)
        except ValueError as exc:
            return SendResult(ok=False, error=str(exc), error_code="refused")
        done = self._done.setdefault(message.idempotency_key, [])
        self._done.move_to_end(message.idempotency_key)
        while len(self._done) > _REMEMBERED_SENDS:
            self._done.popitem(last=False)
        try:
            for step in steps[len(done) :]:
                created = await self.client.messages.create_async(
                    to=self.recipient(message.address),
                    from_=self.sender,
                    status_callback=self.status_callback or values.unset,
                    **step.params,
                )
                done.append(str(created.sid))
        except TwilioRestException as exc:
            retryable = exc.status == 429 or exc.status >= 500
            return SendResult(
                ok=False,
                provider_message_ids=list(done),
                error=f"twilio {exc.status}: {exc.msg}",
                error_code=str(exc.code) if exc.code else str(exc.status),
                retryable=retryable,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(
                ok=False,
                provider_message_ids=list(done),
                error=f"twilio unreachable: {type(exc).__name__} {exc}",
                error_code="network",
                retryable=True,
            )
        self._done.pop(message.idempotency_key, None)
        return SendResult(ok=True, provider_message_ids=done)

    async def close(self) -> None:
        http = self.client.http_client
        if isinstance(http, AsyncTwilioHttpClient):
            await http.close()


class TwilioSmsChannel(TwilioChannel):
    channel = ChannelName.SMS

    def __init__(
        self, client: Client, sender: str, status_callback: str | None, max_segments: int = 4
    ) -> None:
        super().__init__(client, sender, status_callback)
        self.max_segments = max_segments

    def steps(self, message: OutboundMessage) -> list[_Step]:
        body = sms_body(message.text, message.cards, self.max_segments, message.footer)
        if not body:
            raise ValueError("nothing to send: no text and no products")
        return [_Step(body=body)]


class TwilioWhatsAppChannel(TwilioChannel):
    channel = ChannelName.WHATSAPP

    def __init__(self, client: Client, sender: str, status_callback: str | None) -> None:
        sender = sender if sender.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + sender
        super().__init__(client, sender, status_callback)

    def recipient(self, address: str) -> str:
        """``whatsapp:`` and the address as it came: a phone number or, for a shopper who hides
        their number, WhatsApp's user id (``whatsapp:US.13491208655302741918``), unchanged."""
        return address if address.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + address

    def steps(self, message: OutboundMessage) -> list[_Step]:
        """A template when one is given (outside the 24-hour window); else free text and one
        message per product card, each with its image (WhatsApp shows one medium per message)."""
        if message.template is not None:
            return [
                _Step(
                    content_sid=message.template.content_sid,
                    content_variables=json.dumps(message.template.variables),
                )
            ]
        steps = [_Step(body=part) for part in whatsapp_text_parts(message.full_text)]
        for card in message.cards:
            params: dict[str, Any] = {"body": whatsapp_card_body(card)}
            if card.image_url:
                params["media_url"] = [card.image_url]
            steps.append(_Step(**params))
        if not steps:
            raise ValueError("nothing to send: no text, no products and no template")
        return steps
