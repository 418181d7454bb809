"""Web chat as an outbound channel, on both databases: consent as on any channel, the scheduler's
send stored in the visitor's mailbox for when they come back; and the adapter's own rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from channels.messages import ChannelName, OutboundMessage, ProductCard
from channels.webchat.sender import outbound_entry
from channels.webchat.wire import QuickReply, Sender
from policy.guardrails import Guardrails, Program, WebChatCopy
from profile_store import clock
from profile_store.models import Decision, ScheduledSend
from tests.channels.conftest import Shop
from tests.webchat.conftest import ANON, Visitor

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]


async def leave_a_cart(shop: Shop, *, consent: bool) -> None:
    now = clock.now()
    who = {"anonymous_id": ANON}
    events: list[dict[str, Any]] = [
        {
            "event_id": "cart",
            "type": "added_to_cart",
            "customer": who,
            "properties": {"product_id": "boot-1", "price": 120.0, "currency": "USD"},
            "occurred_at": now.isoformat(),
        }
    ]
    if consent:
        events.insert(
            0,
            {
                "event_id": "consent",
                "type": "consent_changed",
                "customer": who,
                "properties": {"channel": "webchat", "purpose": "marketing", "status": "granted"},
                "occurred_at": (now - timedelta(hours=1)).isoformat(),
            },
        )
    auth = {"Authorization": f"Bearer {shop.container.write_key}"}
    response = await shop.http.post("/v1/events", json={"batch": events}, headers=auth)
    assert response.is_success, response.text
    rules = shop.container.guardrails
    shop.container.guardrails = rules.model_copy(
        update={"programs": rules.programs | {"cart_abandoned": Program(holdout_percent=0)}}
    )


async def cart_decision(shop: Shop) -> Any:
    await shop.container.scheduler.run_once(clock.now() + timedelta(hours=1))
    async with shop.container.readers() as session:
        conn = await session.connection()
        return (
            await conn.execute(select(DECISIONS).where(DECISIONS.c.trigger == "cart_abandoned"))
        ).one()


async def test_a_cart_reminder_waits_in_the_mailbox_of_a_consenting_visitor(shop: Shop) -> None:
    await leave_a_cart(shop, consent=True)
    decision = await cart_decision(shop)
    assert decision.verdict == "scheduled" and decision.channel == "webchat"
    while await shop.container.scheduler.run_once(decision.send_at + timedelta(seconds=1)):
        pass
    async with shop.container.readers() as session:
        conn = await session.connection()
        send = (await conn.execute(select(SENDS))).one()
    assert send.status == "sent" and send.provider_message_id.startswith("entry:")
    # The visitor comes back later: the reminder is in their history.
    visitor = await Visitor.open(shop.http, ANON)
    assert await visitor.said() == [("bot", send.payload["text"])]


async def test_no_marketing_on_web_chat_without_consent(shop: Shop) -> None:
    await leave_a_cart(shop, consent=False)
    decision = await cart_decision(shop)
    assert decision.verdict == "suppressed"
    assert {(r["channel"], r["code"]) for r in decision.reasons} >= {("webchat", "consent_missing")}


def test_a_persons_reply_shows_as_human_and_cards_bring_their_quick_replies() -> None:
    buttons = [QuickReply(label="Remind me tomorrow", payload="remind me tomorrow")]
    card = ProductCard(id="p1", name="Boot", price=99.0, currency="USD")
    base = OutboundMessage(channel=ChannelName.WEBCHAT, address=ANON, idempotency_key="k")
    person = outbound_entry(base.model_copy(update={"text": "Hi", "from_person": True}), buttons)
    assert person.sender is Sender.HUMAN and person.buttons == []
    bot = outbound_entry(base.model_copy(update={"text": "Found", "cards": [card]}), buttons)
    assert bot.sender is Sender.BOT and bot.cards == [card] and bot.buttons == buttons


def test_quick_replies_in_the_guardrails_may_be_plain_words() -> None:
    copy = Guardrails.model_validate(
        {"webchat": {"quick_replies": ["Gift ideas", {"label": "Sale", "payload": "on sale"}]}}
    ).webchat
    assert [(o.label, o.says) for o in copy.quick_replies] == [
        ("Gift ideas", "Gift ideas"),
        ("Sale", "on sale"),
    ]
    assert copy.product_quick_replies == WebChatCopy().product_quick_replies


def test_session_tokens_are_kept_out_of_access_logs() -> None:
    import logging

    from app.logs import RedactTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/webchat/v1/sessions/wcs_1/stream?after=3&token=s3cret",
            "1.1",
            200,
        ),
        None,
    )
    assert RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "after=3&token=[redacted]" in record.getMessage()


async def test_concurrent_writes_to_one_mailbox_are_numbered_once_each_in_order(
    shop: Shop,
) -> None:
    import asyncio

    from channels.webchat.wire import NewEntry
    from tests.webchat.conftest import webchat

    chat = webchat(shop)
    visitor = await Visitor.open(shop.http, ANON)  # seq 1: the greeting

    async def post(n: int) -> int:
        entry = NewEntry(sender=Sender.BOT, text=f"reply {n}")
        return (await chat.post(ANON, entry, f"key-{n % 15}")).seq

    seqs = await asyncio.gather(*(post(n) for n in range(30)))
    assert sorted(set(seqs)) == list(range(2, 17))  # 15 keys, each written once, no gaps
    assert all(seqs[n] == seqs[n % 15] for n in range(30))  # a retried key: its first number
    history = await visitor.history()
    assert [m["seq"] for m in history] == list(range(1, 17))
