"""Compliance keywords per channel through the webhooks, on both databases: an opt-out silences
its channel, an opt-in word only counts as a resume, and the guardrails decide the words."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conversations.human_reply import queue_human_reply
from conversations.inbox import CONVERSATIONS, MESSAGES
from conversations.ownership import Owner, set_owner
from policy.guardrails import ComplianceReplies, Guardrails
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.schemas import CustomerRef
from tests.channels.conftest import Shop
from tests.channels.test_inbound_kinds import consents
from tests.channels.test_inbound_pipeline import CHAT_ID, sms, tg_text
from tests.conftest import WRITE_KEY

REPLIES = ComplianceReplies()
PHONE = "+15551234567"
WHATSAPP = "whatsapp:" + PHONE
SHOPPER_TG = CustomerRef(telegram_id=str(CHAT_ID))
SHOPPER_PHONE = CustomerRef(phone=PHONE)
UPDATE_IDS = itertools.count(1)  # provider message ids: a repeated one would be a duplicate


async def telegram_says(shop: Shop, *texts: str) -> list[str]:
    """Each text is its own turn; returns what the bot has sent on Telegram."""
    for text in texts:
        await shop.telegram_update(tg_text(next(UPDATE_IDS), text))
        await shop.work()
    await shop.work()
    return [call.params["text"] for call in shop.telegram.sent]


async def twilio_says(shop: Shop, channel: str, *texts: str) -> list[str | None]:
    sender = WHATSAPP if channel == "whatsapp" else PHONE
    for text in texts:
        await shop.twilio_form(channel, sms(f"SM{next(UPDATE_IDS):032d}", text, sender=sender))
        await shop.work()
    return [request.get("Body") for request in shop.twilio.sent]


async def inbound(shop: Shop) -> list[tuple[str, str, str | None]]:
    async with shop.container.sessions() as session:
        conn = await session.connection()
        rows = await conn.execute(
            select(MESSAGES.c.text, MESSAGES.c.status, MESSAGES.c.error)
            .where(MESSAGES.c.direction == "in")
            .order_by(MESSAGES.c.id)
        )
        return [(row.text, row.status, row.error) for row in rows]


async def outbound(shop: Shop) -> list[tuple[str, str, str | None]]:
    async with shop.container.sessions() as session:
        conn = await session.connection()
        rows = await conn.execute(
            select(MESSAGES.c.text, MESSAGES.c.status, MESSAGES.c.error)
            .where(MESSAGES.c.direction == "out")
            .order_by(MESSAGES.c.id)
        )
        return [(row.text, row.status, row.error) for row in rows]


async def set_marketing(shop: Shop, status: str) -> None:
    """The shop reports a marketing consent change on Telegram (a form, a preference centre)."""
    response = await shop.http.post(
        "/v1/events",
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
        json={
            "event_id": f"consent-{next(UPDATE_IDS)}",
            "type": "consent_changed",
            "customer": {"telegram_id": str(CHAT_ID)},
            "properties": {"channel": "telegram", "purpose": "marketing", "status": status},
            "occurred_at": clock.now().isoformat(),
        },
    )
    assert response.status_code == 200, response.text


def current(history: list[tuple[str, str, str]], channel: str) -> dict[str, str]:
    """The latest status per purpose on ``channel``."""
    return {purpose: status for ch, purpose, status in history if ch == channel}


def use_keywords(shop: Shop, keywords: dict[str, Any]) -> None:
    shop.container.guardrails = Guardrails.model_validate(
        {"compliance": {"keywords": keywords, "sms_provider_replies": False}}
    )


# --- SMS ------------------------------------------------------------------------------------


async def test_after_stop_on_sms_a_question_gets_no_sms_answer(shop: Shop) -> None:
    sent = await twilio_says(shop, "sms", "STOP", "do you still have the red boots?")
    assert sent == []  # Twilio answered the STOP itself; the question is not answered at all
    assert shop.handler.turns == []
    assert (await inbound(shop))[-1] == (
        "do you still have the red boots?",
        "handled",
        "opted out on sms: not answered",
    )


async def test_sms_yes_is_ordinary_text_unless_the_shopper_opted_out(shop: Shop) -> None:
    assert await twilio_says(shop, "sms", "yes") == ["echo: yes"]
    assert await consents(shop, SHOPPER_PHONE) == []  # "yes" to a question is no consent
    await twilio_says(shop, "sms", "STOP", "YES", "any boots in 42?")
    assert [turn.text for turn in shop.handler.turns] == ["yes", "any boots in 42?"]
    assert current(await consents(shop, SHOPPER_PHONE), "sms") == {
        "marketing": "revoked",  # never granted before the STOP: resuming does not grant it
        "transactional": "granted",
    }


async def test_an_sms_keyword_campaign_can_make_yes_grant_marketing(shop: Shop) -> None:
    use_keywords(shop, {"sms": {"opt_in_grants_marketing": True}})
    assert await twilio_says(shop, "sms", "Yes") == [REPLIES.opt_in]
    assert shop.handler.turns == []
    assert current(await consents(shop, SHOPPER_PHONE), "sms") == {
        "marketing": "granted",
        "transactional": "granted",
    }


async def test_help_is_answered_even_after_an_opt_out(shop: Shop) -> None:
    use_keywords(shop, {})  # we answer SMS keywords ourselves
    sent = await twilio_says(shop, "sms", "STOP", "hello?", "HELP")
    assert sent == [REPLIES.opt_out, REPLIES.help]
    assert shop.handler.turns == []


# --- Telegram -------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["/start", "/start promo-42"])
async def test_telegram_start_as_first_message_is_a_turn_not_a_consent(
    shop: Shop, first: str
) -> None:
    assert await telegram_says(shop, first) == [f"echo: {first}"]
    assert [turn.text for turn in shop.handler.turns] == [first]
    assert await consents(shop, SHOPPER_TG) == []


async def test_telegram_yes_is_a_turn(shop: Shop) -> None:
    assert await telegram_says(shop, "yes") == ["echo: yes"]
    assert await consents(shop, SHOPPER_TG) == []


async def test_telegram_stop_then_start_lifts_the_opt_out(shop: Shop) -> None:
    sent = await telegram_says(shop, "/stop", "hello?", "/start", "any rain jackets?")
    assert sent == [REPLIES.opt_out, REPLIES.opt_in, "echo: any rain jackets?"]
    assert [turn.text for turn in shop.handler.turns] == ["any rain jackets?"]
    assert current(await consents(shop, SHOPPER_TG), "telegram") == {
        "marketing": "revoked",
        "transactional": "granted",
    }
    assert (await inbound(shop))[1] == ("hello?", "handled", "opted out on telegram: not answered")


async def test_resuming_restores_marketing_only_if_it_was_granted_before(shop: Shop) -> None:
    await telegram_says(shop, "hi")
    await set_marketing(shop, "granted")
    await telegram_says(shop, "/stop", "/stop")  # a second STOP is still an opt-out
    assert current(await consents(shop, SHOPPER_TG), "telegram")["marketing"] == "revoked"
    await telegram_says(shop, "/start")
    assert current(await consents(shop, SHOPPER_TG), "telegram") == {
        "marketing": "granted",  # as it was before the opt-out
        "transactional": "granted",
    }
    await set_marketing(shop, "revoked")
    await telegram_says(shop, "/stop", "/start")
    assert current(await consents(shop, SHOPPER_TG), "telegram") == {
        "marketing": "revoked",  # as it was before this opt-out
        "transactional": "granted",
    }


async def test_replies_queued_before_an_opt_out_are_never_delivered(
    shop: Shop, test_clock: ShiftedClock
) -> None:
    shop.telegram.fail_next("sendMessage", 429, retry_after=3600, description="Too Many Requests")
    assert await telegram_says(shop, "what is on sale?") == []  # its answer waits, queued
    await shop.telegram_update(tg_text(next(UPDATE_IDS), "/stop"))
    test_clock.advance(timedelta(minutes=1))  # the held-back reply's next try is due
    assert await telegram_says(shop) == [REPLIES.opt_out]
    assert await outbound(shop) == [
        ("echo: what is on sale?", "failed", "opted out on telegram: not sent"),
        (REPLIES.opt_out, "sent", None),
    ]


async def test_a_person_cannot_write_to_a_shopper_who_opted_out(shop: Shop) -> None:
    await telegram_says(shop, "/stop")
    async with shop.container.sessions() as session:
        conn = await session.connection()
        conversation_id: str = (await conn.execute(select(CONVERSATIONS.c.id))).scalar_one()
        await set_owner(session, conversation_id, Owner.HUMAN, now=clock.now())
        await queue_human_reply(
            session, conversation_id, "Are you sure?", author="maria", now=clock.now()
        )
        await session.commit()
    assert await telegram_says(shop) == [REPLIES.opt_out]
    assert (await outbound(shop))[-1] == (
        "Are you sure?",
        "failed",
        "opted out on telegram: not sent",
    )


# --- WhatsApp -------------------------------------------------------------------------------


async def test_whatsapp_cancel_is_a_turn_and_changes_no_consent(shop: Shop) -> None:
    assert await twilio_says(shop, "whatsapp", "Cancel") == ["echo: Cancel"]
    assert await consents(shop, SHOPPER_PHONE) == []


async def test_whatsapp_stop_opts_out_and_silences_whatsapp_only(shop: Shop) -> None:
    sent = await twilio_says(shop, "whatsapp", "STOP", "where is my order?")
    assert sent == [REPLIES.opt_out]
    assert current(await consents(shop, SHOPPER_PHONE), "whatsapp") == {
        "marketing": "revoked",
        "transactional": "revoked",
    }
    assert await twilio_says(shop, "sms", "where is my order?") == [
        REPLIES.opt_out,
        "echo: where is my order?",  # SMS keeps its own consent
    ]


async def test_custom_keywords_from_the_guardrails_are_honoured(shop: Shop) -> None:
    use_keywords(shop, {"whatsapp": {"opt_out": ["BASTA"], "opt_in": ["AVANTI"]}})
    sent = await twilio_says(shop, "whatsapp", "stop", "Basta!", "ciao", "avanti")
    assert sent == ["echo: stop", REPLIES.opt_out, REPLIES.opt_in]
    assert current(await consents(shop, SHOPPER_PHONE), "whatsapp")["transactional"] == "granted"
