"""Scheduled sends reach the real channel adapters; WhatsApp outside 24 hours needs a template."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from channels.adapter import ChannelAdapter
from channels.messages import ChannelName
from channels.twilio.sender import TwilioWhatsAppChannel, create_twilio_client
from policy.guardrails import Guardrails, Program, WhatsAppTemplate
from profile_store.models import Channel
from scheduler.channel_dispatch import ChannelDispatcher
from scheduler.dispatch import OutboundSend
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, WA_FROM
from tests.fake_providers.server import serve
from tests.fake_providers.twilio_api import FakeTwilioApi

TEMPLATE = WhatsAppTemplate(content_sid="HX" + "b" * 32, variables=["text", "program"])
RULES = Guardrails(
    programs={
        "cart_abandoned": Program(whatsapp_template=TEMPLATE),
        "win_back": Program(),
    }
)


def send(program: str, *, use_template: bool, channel: Channel = Channel.WHATSAPP) -> OutboundSend:
    return OutboundSend(
        send_id="snd_1",
        idempotency_key=f"key-{program}-{use_template}-{channel.value}",
        customer_id="cus_1",
        channel=channel,
        address="+15551234567",
        program=program,
        text="Your cart is saved.",
        product_ids=["sku-1"],
        use_template=use_template,
    )


@pytest.fixture
async def wired() -> AsyncIterator[tuple[FakeTwilioApi, ChannelDispatcher]]:
    fake = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN)
    async with serve(fake.app) as url:
        whatsapp = TwilioWhatsAppChannel(
            create_twilio_client(ACCOUNT_SID, AUTH_TOKEN, url), WA_FROM, None
        )
        adapters: dict[ChannelName, ChannelAdapter] = {ChannelName.WHATSAPP: whatsapp}
        yield fake, ChannelDispatcher(adapters, lambda: RULES)
        await whatsapp.close()


async def test_inside_the_window_free_text_goes_out(
    wired: tuple[FakeTwilioApi, ChannelDispatcher],
) -> None:
    fake, dispatcher = wired
    result = await dispatcher.dispatch(send("win_back", use_template=False))
    assert result.ok and (result.provider_message_id or "").startswith("SM")
    assert fake.sent[0].get("Body") == "Your cart is saved."


async def test_outside_the_window_the_approved_template_goes_out(
    wired: tuple[FakeTwilioApi, ChannelDispatcher],
) -> None:
    fake, dispatcher = wired
    result = await dispatcher.dispatch(send("cart_abandoned", use_template=True))
    assert result.ok
    sent = fake.sent[0]
    assert sent.get("ContentSid") == TEMPLATE.content_sid and sent.get("Body") is None
    assert json.loads(sent.get("ContentVariables") or "") == {
        "1": "Your cart is saved.",
        "2": "cart_abandoned",
    }


async def test_outside_the_window_without_a_template_it_is_refused_with_a_reason(
    wired: tuple[FakeTwilioApi, ChannelDispatcher],
) -> None:
    fake, dispatcher = wired
    result = await dispatcher.dispatch(send("win_back", use_template=True))
    assert not result.ok and not result.retryable
    assert (result.error or "").startswith("whatsapp_outside_window")
    assert fake.requests == []


async def test_a_channel_without_credentials_fails_with_a_reason(
    wired: tuple[FakeTwilioApi, ChannelDispatcher],
) -> None:
    _, dispatcher = wired
    result = await dispatcher.dispatch(send("win_back", use_template=False, channel=Channel.SMS))
    assert not result.ok and result.error == "channel sms is not configured"
    email = await dispatcher.dispatch(send("win_back", use_template=False, channel=Channel.EMAIL))
    assert email.error == "channel email is not configured"
