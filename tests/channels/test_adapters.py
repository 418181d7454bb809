"""Outbound adapters through the real aiogram and twilio clients, against local fake APIs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from channels.messages import (
    ChannelName,
    OutboundMessage,
    ProductCard,
    WhatsAppTemplateRef,
)
from channels.retry import RetryPolicy, send_with_retry
from channels.telegram.sender import TelegramChannel, create_bot
from channels.twilio.sender import (
    TwilioSmsChannel,
    TwilioWhatsAppChannel,
    create_twilio_client,
)
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, BOT_TOKEN, SMS_FROM, WA_FROM
from tests.fake_providers.server import serve
from tests.fake_providers.telegram_api import FakeTelegramApi
from tests.fake_providers.twilio_api import FakeTwilioApi

COAT = ProductCard(
    id="sku-1",
    name="Storm <Pro> Coat & Hood",
    price=129.0,
    currency="EUR",
    url="https://shop.example.com/p/sku-1",
    image_url="https://cdn.example.com/sku-1.jpg",
)
POLICY = RetryPolicy(attempts=4, base_delay=0.01)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegramApi, TelegramChannel]]:
    fake = FakeTelegramApi()
    async with serve(fake.app) as url:
        channel = TelegramChannel(create_bot(BOT_TOKEN, url))
        yield fake, channel
        await channel.close()


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilioApi, TwilioSmsChannel, TwilioWhatsAppChannel]]:
    fake = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN)
    async with serve(fake.app) as url:
        client = create_twilio_client(ACCOUNT_SID, AUTH_TOKEN, url)
        sms = TwilioSmsChannel(client, SMS_FROM, "https://shop.example.com/webhooks/twilio/sms")
        whatsapp = TwilioWhatsAppChannel(client, WA_FROM, None)
        yield fake, sms, whatsapp
        await sms.close()


def message(
    channel: ChannelName, address: str, key: str = "k1", **fields: object
) -> OutboundMessage:
    return OutboundMessage.model_validate(
        {"channel": channel, "address": address, "idempotency_key": key} | fields
    )


async def test_telegram_text_is_escaped_and_cards_are_photos_with_a_button(
    telegram: tuple[FakeTelegramApi, TelegramChannel],
) -> None:
    fake, channel = telegram
    result = await channel.send(
        message(ChannelName.TELEGRAM, "555", text="Tip: <b> is & stays text", cards=[COAT])
    )
    assert result.ok and len(result.provider_message_ids) == 2
    text, photo = fake.sent
    assert text.method == "sendMessage"
    assert text.params["text"] == "Tip: &lt;b&gt; is &amp; stays text"
    assert text.params["parse_mode"] == "HTML"
    assert photo.method == "sendPhoto"
    assert photo.params["photo"] == COAT.image_url
    assert photo.params["caption"] == "<b>Storm &lt;Pro&gt; Coat &amp; Hood</b>\n129.00 EUR"
    button = photo.json("reply_markup")["inline_keyboard"][0][0]
    assert button == {"text": "View product", "url": COAT.url}


async def test_telegram_long_text_is_split_within_the_limit(
    telegram: tuple[FakeTelegramApi, TelegramChannel],
) -> None:
    fake, channel = telegram
    paragraph = "word " * 700  # 3,500 characters
    await channel.send(message(ChannelName.TELEGRAM, "555", text=f"{paragraph}\n\n{paragraph}"))
    assert len(fake.sent) == 2
    assert all(len(call.params["text"]) <= 4096 for call in fake.sent)


async def test_telegram_429_waits_the_retry_after_it_was_given(
    telegram: tuple[FakeTelegramApi, TelegramChannel],
) -> None:
    fake, channel = telegram
    fake.fail_next(
        "sendMessage", 429, retry_after=7, description="Too Many Requests: retry after 7"
    )
    sleeps = Sleeps()
    result = await send_with_retry(
        channel, message(ChannelName.TELEGRAM, "555", text="hi"), POLICY, sleeps
    )
    assert result.ok
    assert sleeps.waits == [7.0]
    assert len(fake.sent) == 1


async def test_telegram_5xx_then_success_and_a_retry_resumes_after_sent_parts(
    telegram: tuple[FakeTelegramApi, TelegramChannel],
) -> None:
    fake, channel = telegram
    fake.fail_next("sendPhoto", 502, description="Bad Gateway")
    sleeps = Sleeps()
    result = await send_with_retry(
        channel, message(ChannelName.TELEGRAM, "555", text="Here:", cards=[COAT]), POLICY, sleeps
    )
    assert result.ok and len(sleeps.waits) == 1
    # The text went out once; only the failed photo was sent again.
    assert [call.method for call in fake.sent] == ["sendMessage", "sendPhoto"]


async def test_telegram_final_failures_carry_their_reason(
    telegram: tuple[FakeTelegramApi, TelegramChannel],
) -> None:
    fake, channel = telegram
    fake.fail_next("sendMessage", 403, description="Forbidden: bot was blocked by the user")
    blocked = await send_with_retry(
        channel, message(ChannelName.TELEGRAM, "555", text="hi"), POLICY, Sleeps()
    )
    assert not blocked.ok and not blocked.retryable
    assert blocked.error_code == "blocked_by_user" and "blocked" in (blocked.error or "")
    for _ in range(POLICY.attempts):
        fake.fail_next("sendMessage", 500)
    exhausted = await send_with_retry(
        channel, message(ChannelName.TELEGRAM, "555", "k2", text="hi"), POLICY, Sleeps()
    )
    assert not exhausted.ok and exhausted.retryable  # the caller reschedules it


async def test_sms_body_with_product_links_and_status_callback(
    twilio: tuple[FakeTwilioApi, TwilioSmsChannel, TwilioWhatsAppChannel],
) -> None:
    fake, sms, _ = twilio
    result = await sms.send(
        message(ChannelName.SMS, "+15551234567", text="Back in stock:", cards=[COAT])
    )
    assert result.ok and (result.provider_message_id or "").startswith("SM")
    sent = fake.sent[0]
    assert sent.get("Body") == f"Back in stock:\n\n{COAT.name} 129.00 EUR\n{COAT.url}"
    assert sent.get("StatusCallback") == "https://shop.example.com/webhooks/twilio/sms"


async def test_twilio_429_and_5xx_are_retried_then_succeed(
    twilio: tuple[FakeTwilioApi, TwilioSmsChannel, TwilioWhatsAppChannel],
) -> None:
    fake, sms, _ = twilio
    fake.fail_next(429, code=20429, message="Too Many Requests")
    fake.fail_next(503, code=20503, message="Service Unavailable")
    sleeps = Sleeps()
    result = await send_with_retry(
        sms, message(ChannelName.SMS, "+15551234567", text="hi"), POLICY, sleeps
    )
    assert result.ok and len(sleeps.waits) == 2
    assert len(fake.sent) == 1


async def test_twilio_unsubscribed_recipient_is_a_final_failure(
    twilio: tuple[FakeTwilioApi, TwilioSmsChannel, TwilioWhatsAppChannel],
) -> None:
    fake, sms, _ = twilio
    fake.fail_next(400, code=21610, message="Attempt to send to unsubscribed recipient")
    result = await send_with_retry(
        sms, message(ChannelName.SMS, "+15551234567", text="hi"), POLICY, Sleeps()
    )
    assert not result.ok and not result.retryable
    assert result.error_code == "21610"
    assert "unsubscribed" in (result.error or "")


async def test_whatsapp_template_and_media_cards(
    twilio: tuple[FakeTwilioApi, TwilioSmsChannel, TwilioWhatsAppChannel],
) -> None:
    fake, _, whatsapp = twilio
    template = WhatsAppTemplateRef(content_sid="HX" + "a" * 32, variables={"1": "Your cart"})
    assert (
        await whatsapp.send(message(ChannelName.WHATSAPP, "+15551234567", template=template))
    ).ok
    sent = fake.sent[0]
    assert sent.get("To") == "whatsapp:+15551234567" and sent.get("From") == f"whatsapp:{WA_FROM}"
    assert sent.get("ContentSid") == template.content_sid
    assert json.loads(sent.get("ContentVariables") or "") == {"1": "Your cart"}
    assert sent.get("Body") is None

    assert (
        await whatsapp.send(
            message(ChannelName.WHATSAPP, "+15551234567", "k2", text="Look:", cards=[COAT])
        )
    ).ok
    text, card = fake.sent[1:]
    assert text.get("Body") == "Look:"
    assert card.get("MediaUrl") == COAT.image_url
    assert card.get("Body") == f"*{COAT.name}*\n129.00 EUR\n{COAT.url}"
