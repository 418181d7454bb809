"""Webhook to reply, on both databases: verified, stored once, answered once, in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from conversations.handler import Reply, Turn
from conversations.inbox import CONVERSATIONS, MESSAGES
from profile_store import clock
from tests.channels.conftest import SMS_FROM, Shop

CHAT_ID = 777001


def tg_text(update_id: int, text: str, chat_id: int = CHAT_ID) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_763_800_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Ada"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }


def sms(sid: str, body: str, sender: str = "+15551234567") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": sender,
        "To": SMS_FROM,
        "Body": body,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


async def count_messages(shop: Shop, direction: str | None = None) -> int:
    query = select(func.count()).select_from(MESSAGES)
    if direction:
        query = query.where(MESSAGES.c.direction == direction)
    async with shop.container.sessions() as session:
        return int((await (await session.connection()).execute(query)).scalar_one())


async def test_telegram_text_is_answered_once_even_when_the_webhook_is_retried(
    shop: Shop,
) -> None:
    for _ in range(3):  # Telegram retries the same update_id when an answer is slow
        response = await shop.telegram_update(tg_text(1, "do you have rain jackets?"))
        assert response.status_code == 200
    assert await shop.work() == 1
    assert await shop.work() == 0
    assert [call.params["text"] for call in shop.telegram.sent] == [
        "echo: do you have rain jackets?"
    ]
    assert shop.telegram.sent[0].params["chat_id"] == str(CHAT_ID)
    assert await count_messages(shop, "in") == 1


async def test_a_wrong_or_missing_telegram_secret_is_refused_and_nothing_stored(
    shop: Shop,
) -> None:
    assert (await shop.telegram_update(tg_text(1, "hi"), secret=None)).status_code == 401
    wrong = await shop.telegram_update(tg_text(1, "hi"), secret="guess")
    assert wrong.status_code == 403
    assert "Secret-Token" in wrong.json()["detail"]
    assert await count_messages(shop) == 0


async def test_forged_twilio_signature_is_refused_and_nothing_stored(shop: Shop) -> None:
    missing = await shop.twilio_form("sms", sms("SM1", "hi"), signature="")
    assert missing.status_code == 401
    forged = await shop.twilio_form("sms", sms("SM1", "hi"), signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    # A valid signature over different parameters does not carry over to tampered ones.
    params = sms("SM1", "hi")
    response = await shop.twilio_form("sms", params)
    assert response.status_code == 200
    tampered = sms("SM2", "send me everything", sender="+15559999999")
    replay = await shop.twilio_form(
        "sms", tampered, signature=response.request.headers["X-Twilio-Signature"]
    )
    assert replay.status_code == 403
    assert await count_messages(shop) == 1


async def test_sms_gets_an_empty_twiml_ack_then_one_reply(shop: Shop) -> None:
    first = await shop.twilio_form("sms", sms("SM10", "hello"))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/xml")
    assert first.text.endswith("<Response></Response>")
    retry = await shop.twilio_form("sms", sms("SM10", "hello"))
    assert retry.status_code == 200
    await shop.work()
    assert [r.get("Body") for r in shop.twilio.sent] == ["echo: hello"]
    sent = shop.twilio.sent[0]
    assert sent.get("To") == "+15551234567" and sent.get("From") == SMS_FROM
    assert sent.get("StatusCallback") == "https://shop.example.com/webhooks/twilio/sms"


async def test_a_burst_becomes_one_turn_answered_in_order(shop: Shop) -> None:
    shop.set_burst_window(5)
    for update_id, text in enumerate(["hi", "I need boots", "size 42"], start=10):
        await shop.telegram_update(tg_text(update_id, text))
    # Nothing is answered while the shopper may still be typing …
    assert await shop.container.conversations.run_once() == 0
    # … and once the window has passed, the burst is one turn.
    later = clock.now() + timedelta(seconds=6)
    assert await shop.container.conversations.run_once(now=later) == 1
    assert [turn.texts for turn in shop.handler.turns] == [["hi", "I need boots", "size 42"]]
    assert [c.params["text"] for c in shop.telegram.sent] == ["echo: hi\nI need boots\nsize 42"]


async def test_different_conversations_are_answered_concurrently(shop: Shop) -> None:
    import asyncio

    gate = asyncio.Event()
    started: list[str] = []

    class SlowHandler:
        async def handle(self, turn: Turn) -> list[Reply]:
            started.append(turn.address)
            if len(started) == 3:
                gate.set()
            await asyncio.wait_for(gate.wait(), 5)  # only returns if all three run at once
            return [Reply(text="ok")]

    shop.container.conversations.handler = SlowHandler()
    for chat in (1, 2, 3):
        await shop.telegram_update(tg_text(100 + chat, "hi", chat_id=chat))
    assert await shop.container.conversations.run_once() == 3
    assert sorted(started) == ["1", "2", "3"]
    assert len(shop.telegram.sent) == 3


async def test_messages_acknowledged_before_a_crash_are_answered_after_restart(
    shop: Shop,
) -> None:
    await shop.twilio_form("sms", sms("SM20", "is the blue coat back?"))
    # The process dies after the ack: simulate by building a fresh app on the same database.
    from app.factory import create_app

    restarted = create_app(shop.container.settings, handler=shop.handler)
    async with restarted.router.lifespan_context(restarted):
        assert await restarted.state.container.conversations.run_once() == 1
    assert [r.get("Body") for r in shop.twilio.sent] == ["echo: is the blue coat back?"]


async def test_a_crashed_worker_lease_expires_and_the_turn_is_answered_once(
    shop: Shop,
) -> None:
    from conversations.worker import ConversationWorker

    await shop.telegram_update(tg_text(30, "hello?"))
    worker = shop.container.conversations
    now = clock.now()
    dead = ConversationWorker(
        worker.sessions, worker.adapters, worker.handler, worker.rules, worker.config
    )
    claims = await dead._claim(10, now)  # another worker claims it, then dies
    assert len(claims) == 1
    assert await worker.run_once(now=now) == 0  # leased: nobody else takes it
    assert await worker.run_once(now=now + worker.config.lease + timedelta(seconds=1)) == 1
    assert [c.params["text"] for c in shop.telegram.sent] == ["echo: hello?"]


async def test_replies_queued_before_a_crash_are_delivered_not_regenerated(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conversations.worker as worker_module

    await shop.telegram_update(tg_text(41, "first"))
    from conversations.delivery import deliver as real_deliver

    async def crash(*_: object, **__: object) -> None:
        raise RuntimeError("worker died after the turn was answered")

    monkeypatch.setattr(worker_module, "deliver", crash)
    worker = shop.container.conversations
    assert await worker.run_once() == 1
    assert shop.telegram.sent == [] and len(shop.handler.turns) == 1
    monkeypatch.setattr(worker_module, "deliver", real_deliver)
    later = clock.now() + timedelta(seconds=31)  # the failed conversation's retry time
    assert await worker.run_once(now=later) == 1
    assert [c.params["text"] for c in shop.telegram.sent] == ["echo: first"]
    assert len(shop.handler.turns) == 1  # the queued reply went out; no second turn


async def test_a_reply_on_a_channel_without_adapter_fails_with_its_reason(shop: Shop) -> None:
    await shop.telegram_update(tg_text(40, "first"))
    worker = shop.container.conversations
    saved = worker.adapters
    worker.adapters = {}  # the turn is answered but delivery cannot happen yet
    await worker.run_once()
    async with shop.container.sessions() as session:
        query = select(MESSAGES).where(MESSAGES.c.direction == "out")
        reply = (await (await session.connection()).execute(query)).one()
    assert reply.status == "failed"  # channel missing is a final, recorded failure
    assert "not configured" in (reply.error or "")
    worker.adapters = saved
    assert len(shop.handler.turns) == 1


async def test_the_conversation_belongs_to_the_resolved_customer(shop: Shop) -> None:
    await shop.twilio_form("sms", sms("SM50", "hi", sender="+15551230000"))
    await shop.twilio_form("whatsapp", sms("SM51", "hi", sender="whatsapp:+15551230000"))
    async with shop.container.sessions() as session:
        rows = (await (await session.connection()).execute(select(CONVERSATIONS))).all()
    customers = {row.customer_id for row in rows}
    assert len(rows) == 2 and len(customers) == 1  # one shopper, two channels


async def test_a_channel_without_credentials_is_off_with_a_reason(
    client: httpx.AsyncClient,
) -> None:
    telegram = await client.post("/webhooks/telegram", json={"update_id": 1})
    assert telegram.status_code == 404
    assert "CHATCOMMERCE_TELEGRAM_BOT_TOKEN" in telegram.json()["detail"]
    sms_off = await client.post("/webhooks/twilio/sms", content="Body=hi")
    assert sms_off.status_code == 404
    assert "CHATCOMMERCE_TWILIO_ACCOUNT_SID" in sms_off.json()["detail"]


async def test_two_workers_answer_each_conversation_once(shop: Shop) -> None:
    import asyncio

    from conversations.worker import ConversationWorker

    for chat in range(1, 41):
        await shop.telegram_update(tg_text(200 + chat, f"hi from {chat}", chat_id=chat))
    first = shop.container.conversations
    second = ConversationWorker(
        first.sessions, first.adapters, first.handler, first.rules, first.config
    )

    async def drain(worker: ConversationWorker) -> int:
        total = 0
        while handled := await worker.run_once():
            total += handled
        return total

    counts = await asyncio.gather(drain(first), drain(second))
    assert sum(counts) == 40
    chats = sorted(int(call.params["chat_id"]) for call in shop.telegram.sent)
    assert chats == list(range(1, 41))  # every conversation answered, none twice


async def test_the_background_worker_answers_without_being_driven(shop: Shop) -> None:
    import asyncio

    worker = shop.container.conversations
    worker.start()
    try:
        await shop.telegram_update(tg_text(300, "anyone there?"))
        for _ in range(100):  # the webhook's notify wakes the worker; no test drives it
            if shop.telegram.sent:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert [c.params["text"] for c in shop.telegram.sent] == ["echo: anyone there?"]
