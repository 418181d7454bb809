"""Every kind of inbound payload gets a defined behaviour; keywords act before any agent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from channels.messages import InboundKind
from conversations.inbox import MESSAGES
from conversations.turns import CONTACT_LINKED, CONTACT_NOT_OWN, NOTICES
from policy.guardrails import TELEGRAM_KEYWORDS, ComplianceReplies
from profile_store import clock
from profile_store.consent import consent_history
from profile_store.identity import find_customer_id
from profile_store.schemas import CustomerRef
from tests.channels.conftest import Shop, fixture
from tests.channels.test_inbound_pipeline import CHAT_ID, sms, tg_text

REPLIES = ComplianceReplies()


def tg_message(update_id: int, **content: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_763_800_000,
            "chat": {"id": CHAT_ID, "type": "private"},
            "from": {"id": CHAT_ID, "is_bot": False, "first_name": "Ada"},
        }
        | content,
    }


def camel_to_twilio(params: dict[str, str]) -> dict[str, str]:
    """Bottender stores Twilio's form keys in lowerCamelCase; Twilio sends them capitalised."""
    return {key[0].upper() + key[1:]: value for key, value in params.items()}


async def texts_sent(shop: Shop) -> list[str]:
    await shop.work()
    return [
        call.params.get("text") or call.params.get("caption", "") for call in shop.telegram.sent
    ]


async def consents(shop: Shop, ref: CustomerRef) -> list[tuple[str, str, str]]:
    async with shop.container.sessions() as session:
        customer_id = await find_customer_id(session, ref)
        assert customer_id is not None
        history = await consent_history(session, customer_id)
    return [(c.channel, c.purpose, c.status) for c in history]


PHOTO = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
STICKER = {
    "file_id": "CAAD",
    "file_unique_id": "AgAD",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"photo": PHOTO}, NOTICES[InboundKind.PHOTO]),
        ({"sticker": STICKER}, NOTICES[InboundKind.STICKER]),
        (
            {"voice": {"file_id": "AwAD", "file_unique_id": "AgAD", "duration": 3}},
            NOTICES[InboundKind.VOICE],
        ),
        (
            {"location": {"latitude": 52.52, "longitude": 13.40}},
            NOTICES[InboundKind.LOCATION],
        ),
        (
            {"document": {"file_id": "BQAD", "file_unique_id": "AgAD", "file_name": "a.pdf"}},
            NOTICES[InboundKind.MEDIA],
        ),
        ({"dice": {"emoji": "🎲", "value": 3}}, NOTICES[InboundKind.UNSUPPORTED]),
        ({"photo": PHOTO, "caption": "do you have this in red?"}, "echo: do you have this in red?"),
    ],
    ids=["photo", "sticker", "voice", "location", "document", "dice", "photo-with-caption"],
)
async def test_telegram_non_text_gets_a_polite_defined_answer(
    shop: Shop, content: dict[str, Any], expected: str
) -> None:
    assert (await shop.telegram_update(tg_message(5, **content))).status_code == 200
    assert await texts_sent(shop) == [expected]


async def test_a_burst_of_stickers_gets_one_answer(shop: Shop) -> None:
    shop.set_burst_window(3)
    for update_id in range(20, 25):
        await shop.telegram_update(tg_message(update_id, sticker=STICKER))
    await shop.container.conversations.run_once(now=clock.now() + timedelta(seconds=4))
    assert [c.params["text"] for c in shop.telegram.sent] == [NOTICES[InboundKind.STICKER]]


async def test_edited_message_is_stored_and_not_answered_again(shop: Shop) -> None:
    await shop.telegram_update(tg_text(1, "blue jakcet"))
    edited = tg_text(2, "blue jacket")
    edited["edited_message"] = edited.pop("message") | {"edit_date": 1_763_800_100}
    assert (await shop.telegram_update(edited)).status_code == 200
    assert await texts_sent(shop) == ["echo: blue jakcet"]
    async with shop.container.sessions() as session:
        conn = await session.connection()
        kinds = (await conn.execute(select(MESSAGES.c.kind, MESSAGES.c.status))).all()
    assert ("edited", "handled") in [tuple(row) for row in kinds]


async def test_callback_query_is_answered_in_the_webhook_and_its_data_is_a_turn(
    shop: Shop,
) -> None:
    update = fixture("webhooks", "telegram", "tg_litegram_callback_query_with_message.json")
    response = await shop.telegram_update(update)
    assert response.json() == {
        "method": "answerCallbackQuery",
        "callback_query_id": update["callback_query"]["id"],
    }
    assert await texts_sent(shop) == [f"echo: {update['callback_query']['data']}"]


async def test_group_chats_are_a_no_op(shop: Shop) -> None:
    message = fixture("webhooks", "telegram", "tg_tgbot_message_contact_supergroup.json")
    response = await shop.telegram_update({"update_id": 9, "message": message})
    assert response.status_code == 200
    assert await shop.work() == 0
    assert shop.telegram.sent == []


async def test_own_shared_contact_links_the_phone_to_the_telegram_profile(shop: Shop) -> None:
    contact = {"phone_number": "+15551234567", "first_name": "Ada", "user_id": CHAT_ID}
    await shop.telegram_update(tg_message(3, contact=contact))
    assert await texts_sent(shop) == [CONTACT_LINKED]
    async with shop.container.sessions() as session:
        by_phone = await find_customer_id(session, CustomerRef(phone="+15551234567"))
        by_chat = await find_customer_id(session, CustomerRef(telegram_id=str(CHAT_ID)))
    assert by_phone is not None and by_phone == by_chat


async def test_someone_elses_contact_links_nothing(shop: Shop) -> None:
    contact = {"phone_number": "+15557654321", "first_name": "Bob", "user_id": 999}
    await shop.telegram_update(tg_message(4, contact=contact))
    assert await texts_sent(shop) == [CONTACT_NOT_OWN]
    async with shop.container.sessions() as session:
        assert await find_customer_id(session, CustomerRef(phone="+15557654321")) is None


@pytest.mark.parametrize(
    "word", [*TELEGRAM_KEYWORDS.opt_out, "/stop@ShopBot", " Stop ", "stop!", "unsubscribe."]
)
async def test_each_opt_out_keyword_revokes_consent_and_gets_the_compliance_reply(
    shop: Shop, word: str
) -> None:
    await shop.telegram_update(tg_text(1, word))
    assert await texts_sent(shop) == [REPLIES.opt_out]
    assert shop.handler.turns == []  # the agent never saw it
    assert ("telegram", "marketing", "revoked") in await consents(
        shop, CustomerRef(telegram_id=str(CHAT_ID))
    )


@pytest.mark.parametrize("word", [*TELEGRAM_KEYWORDS.opt_in, "/START", "/start promo-42"])
async def test_each_opt_in_keyword_lifts_an_opt_out(shop: Shop, word: str) -> None:
    await shop.telegram_update(tg_text(1, "/stop"))
    await shop.telegram_update(tg_text(2, word))
    assert await texts_sent(shop) == [REPLIES.opt_out, REPLIES.opt_in]
    assert (await consents(shop, CustomerRef(telegram_id=str(CHAT_ID))))[-1] == (
        "telegram",
        "transactional",
        "granted",
    )
    assert shop.handler.turns == []


@pytest.mark.parametrize("word", [*TELEGRAM_KEYWORDS.help, "/help@ShopBot"])
async def test_help_keywords_get_the_help_reply(shop: Shop, word: str) -> None:
    await shop.telegram_update(tg_text(1, word))
    assert await texts_sent(shop) == [REPLIES.help]


@pytest.mark.parametrize(
    "text", ["stop please", "please cancel my order", "STOP STOP", "yes!?", "cancel", "help"]
)
async def test_only_a_message_that_is_exactly_a_keyword_counts(shop: Shop, text: str) -> None:
    await shop.telegram_update(tg_text(1, text))
    assert await texts_sent(shop) == [f"echo: {text}"]


async def test_stop_after_chat_in_one_burst_answers_only_the_stop(shop: Shop) -> None:
    shop.set_burst_window(3)
    await shop.telegram_update(tg_text(1, "any deals on boots?"))
    await shop.telegram_update(tg_text(2, "STOP"))
    await shop.container.conversations.run_once(now=clock.now() + timedelta(seconds=4))
    assert [c.params["text"] for c in shop.telegram.sent] == [REPLIES.opt_out]


async def test_sms_keywords_record_consent_and_leave_the_reply_to_twilio(shop: Shop) -> None:
    await shop.twilio_form("sms", sms("SM1", "STOP"))
    await shop.work()
    assert shop.twilio.sent == []  # Twilio's own opt-out reply already went out
    assert ("sms", "marketing", "revoked") in await consents(
        shop, CustomerRef(phone="+15551234567")
    )


async def test_whatsapp_keywords_get_our_compliance_reply(shop: Shop) -> None:
    await shop.twilio_form("whatsapp", sms("SM2", "unsubscribe", sender="whatsapp:+15551234567"))
    await shop.work()
    assert [r.get("Body") for r in shop.twilio.sent] == [REPLIES.opt_out]


async def test_status_callbacks_move_the_reply_forward_never_back(shop: Shop) -> None:
    await shop.twilio_form("whatsapp", sms("SM3", "hi", sender="whatsapp:+15551234567"))
    await shop.work()
    sid = shop.twilio.sent[0]
    reply_sid = next(iter(shop.twilio.messages))
    assert sid.get("Body") == "echo: hi"
    base = {
        "MessageSid": reply_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "whatsapp:+14155238886",
        "To": "whatsapp:+15551234567",
        "ApiVersion": "2010-04-01",
    }
    for status in ("delivered", "sent", "read"):  # 'sent' arrives late
        response = await shop.twilio_form(
            "whatsapp", base | {"MessageStatus": status, "SmsStatus": status}
        )
        assert response.status_code == 200
    async with shop.container.sessions() as session:
        conn = await session.connection()
        stored = await conn.scalar(
            select(MESSAGES.c.status).where(MESSAGES.c.provider_message_id == reply_sid)
        )
    assert stored == "read"


async def reply_status(shop: Shop, status: str, **extra: str) -> tuple[int, str]:
    """Post a status callback for the one reply sent so far; the answer and the stored status."""
    reply_sid = next(iter(shop.twilio.messages))
    callback = {
        "MessageSid": reply_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "whatsapp:+14155238886",
        "To": "whatsapp:+15551234567",
        "ApiVersion": "2010-04-01",
        "MessageStatus": status,
        "SmsStatus": status,
    } | extra
    response = await shop.twilio_form("whatsapp", callback)
    async with shop.container.sessions() as session:
        conn = await session.connection()
        stored = await conn.scalar(
            select(MESSAGES.c.status).where(MESSAGES.c.provider_message_id == reply_sid)
        )
    return response.status_code, str(stored)


# Twilio's documented Message statuses (twilio-python MessageInstance.Status) and where each
# leaves a reply that was 'sent': only ever forward.
DOCUMENTED_STATUSES = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "receiving": "sent",  # about a message coming to us: nothing to move
}


@pytest.mark.parametrize(("status", "stored"), sorted(DOCUMENTED_STATUSES.items()))
async def test_every_documented_status_is_acknowledged_and_mapped(
    shop: Shop, status: str, stored: str
) -> None:
    await shop.twilio_form("whatsapp", sms("SM5", "hi", sender="whatsapp:+15551234567"))
    await shop.work()
    assert await reply_status(shop, status) == (200, stored)


async def test_partially_delivered_counts_as_delivered_and_keeps_the_error(shop: Shop) -> None:
    await shop.twilio_form("whatsapp", sms("SM6", "hi", sender="whatsapp:+15551234567"))
    await shop.work()
    answer = await reply_status(
        shop, "partially_delivered", ErrorCode="30008", ErrorMessage="Unknown error"
    )
    assert answer == (200, "delivered")
    async with shop.container.sessions() as session:
        conn = await session.connection()
        error = await conn.scalar(select(MESSAGES.c.error).where(MESSAGES.c.direction == "out"))
    assert error == "30008: Unknown error"
    assert await reply_status(shop, "read") == (200, "read")  # still moves forward


async def test_an_unknown_future_status_is_acknowledged_and_changes_nothing(
    shop: Shop,
) -> None:
    await shop.twilio_form("whatsapp", sms("SM7", "hi", sender="whatsapp:+15551234567"))
    await shop.work()
    assert await reply_status(shop, "delivered") == (200, "delivered")
    assert await reply_status(shop, "teleported") == (200, "delivered")


async def test_error_21610_records_an_opt_out(shop: Shop) -> None:
    await shop.twilio_form("sms", sms("SM4", "hi"))
    await shop.work()
    callback = {
        "MessageSid": next(iter(shop.twilio.messages)),
        "MessageStatus": "failed",
        "ErrorCode": "21610",
        "ErrorMessage": "Attempt to send to unsubscribed recipient",
        "To": "+15551234567",
        "From": "+15005550006",
        "AccountSid": "AC" + "1" * 32,
    }
    assert (await shop.twilio_form("sms", callback)).status_code == 200
    assert ("sms", "marketing", "revoked") in await consents(
        shop, CustomerRef(phone="+15551234567")
    )


# Telegram's "testing your bot with updates" examples predate fields every update now carries
# (User.is_bot, file_unique_id, chat_instance); they are refused with the field named.
OUTDATED_TELEGRAM_EXAMPLES = {
    "tg_docs_callback_query_inline.json": "callback_query.from.is_bot",
    "tg_docs_edited_message.json": "edited_message.from.is_bot",
    "tg_docs_message_document_no_text.json": "message.from.is_bot",
    "tg_docs_message_forwarded.json": "message.from.is_bot",
    "tg_docs_message_reply.json": "message.from.is_bot",
    "tg_docs_message_text.json": "message.from.is_bot",
    "tg_docs_message_voice_no_text.json": "message.from.is_bot",
}
TELEGRAM_FIXTURES = [
    *OUTDATED_TELEGRAM_EXAMPLES,
    "tg_litegram_callback_query_with_message.json",
    "tg_litegram_message_text.json",
    "tg_rasa_edited_message.json",
    "tg_tgbot_message_contact_supergroup.json",
]


@pytest.mark.parametrize("name", TELEGRAM_FIXTURES)
async def test_every_real_telegram_payload_gets_a_defined_answer(shop: Shop, name: str) -> None:
    payload = fixture("webhooks", "telegram", name)
    if "update_id" not in payload:  # some sources hold a bare Message
        payload = {"update_id": 1, "message": payload}
    response = await shop.telegram_update(payload)
    if name in OUTDATED_TELEGRAM_EXAMPLES:
        assert response.status_code == 422
        assert OUTDATED_TELEGRAM_EXAMPLES[name] in response.json()["detail"]
        return
    assert response.status_code == 200, response.text
    await shop.work()
    for call in shop.telegram.sent:
        assert call.params["text"]


TWILIO_FIXTURES = [
    ("sms", "twilio_sms_inbound_no_media.json"),
    ("sms", "twilio_sms_inbound_with_media.json"),
    ("whatsapp", "twilio_whatsapp_inbound_text_camelcase.json"),
    ("whatsapp", "twilio_whatsapp_inbound_text_bsuid_constructed.json"),
    ("whatsapp", "twilio_whatsapp_status_delivered_camelcase.json"),
    ("whatsapp", "twilio_whatsapp_status_read_camelcase.json"),
    ("whatsapp", "twilio_whatsapp_status_sent_camelcase.json"),
]


@pytest.mark.parametrize(("channel", "name"), TWILIO_FIXTURES)
async def test_every_real_twilio_payload_gets_a_defined_answer(
    shop: Shop, channel: str, name: str
) -> None:
    payload = fixture("webhooks", "twilio", name)
    params = payload["params"] if "params" in payload else camel_to_twilio(payload)
    response = await shop.twilio_form(channel, params)
    assert response.status_code == 200, response.text
    await shop.work()
    if params.get("Body"):
        assert [r.get("Body") for r in shop.twilio.sent] == [f"echo: {params['Body']}"]


@pytest.mark.parametrize(
    "name",
    [
        "wa_cloud_interactive_button_reply.json",
        "wa_cloud_message_text.json",
        "wa_cloud_status_failed.json",
    ],
)
async def test_meta_cloud_payloads_on_the_twilio_route_get_a_clear_4xx(
    shop: Shop, name: str
) -> None:
    payload = fixture("webhooks", "meta_whatsapp", name)
    response = await shop.http.post("/webhooks/twilio/whatsapp", json=payload)
    assert response.status_code == 415
    assert "x-www-form-urlencoded" in response.json()["detail"]
