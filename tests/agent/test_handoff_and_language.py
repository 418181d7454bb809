"""A handoff a person can pick up (why, and a summary, in the thread they read; the shopper is
told), that needs the shopper's words (an explicit request or a yes to the offer), and a
hand-back the bot announces and remembers; the shopper's language, detected offline, stored as
``locale`` and given to the model."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from profile_store import clock
from profile_store.models import Customer
from tests.agent.test_agent_actions import CONVERSATIONS, DECISIONS, Chat
from tests.agent.test_openai_agent import Stack, stack, system_text
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID
from tests.fake_providers.openai_api import ToolCall

__all__ = ["stack"]
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]


async def thread(shop: Shop, chat: Chat) -> dict[str, Any]:
    conversation = await chat.conversation_id()
    response = await shop.http.get(
        f"/admin/v1/conversations/{conversation}", headers=await chat.admin()
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_the_person_taking_over_sees_why_and_a_summary(shop: Shop) -> None:
    chat = Chat(shop)
    await chat.say("my boots arrived with a broken sole")
    told = await chat.say("I want to speak to a real person please")
    assert "colleague" in told and "passed on what we talked about" in told
    seen = await thread(shop, chat)
    assert seen["conversation"]["owner"] == "human"
    assert seen["conversation"]["attention"].startswith("handed over:")
    (note,) = [m for m in seen["messages"] if m["direction"] == "note"]
    assert note["text"].startswith("Handed over:")
    assert 'Shopper said: "my boots arrived with a broken sole"' in note["text"]


async def test_a_handoff_needs_an_explicit_request_or_a_yes(shop: Shop) -> None:
    chat = Chat(shop)
    offer = await chat.say("I'm very unhappy with the quality of my jacket")
    assert offer.endswith("?") and "colleague" in offer
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "bot"  # an offer, not yet a handoff
    assert "colleague" in await chat.say("yes please")
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "human"
    (decision,) = await chat.rows(DECISIONS, DECISIONS.c.action == "handoff_to_human")
    assert "unhappy with the quality" in decision.details["summary"]


async def test_the_bot_says_it_is_back_and_knows_what_the_person_said(shop: Shop) -> None:
    chat = Chat(shop)
    await chat.say("talk to a human")
    admin = await chat.admin()
    conversation = await chat.conversation_id()
    assert await chat.say("my refund for order 10234?") == ""  # the person answers now
    replied = await shop.http.post(
        f"/admin/v1/conversations/{conversation}/messages",
        json={"text": "Your refund was sent today."},
        headers=admin,
    )
    assert replied.status_code == 202
    await shop.work()
    before = len(shop.telegram.sent)
    await shop.http.post(f"/admin/v1/conversations/{conversation}/release", headers=admin)
    await shop.work()
    (back,) = shop.telegram.sent[before:]
    assert back.params["text"] == (
        "I'm back! maria@shop.example handed you back to me. They said: "
        '"Your refund was sent today.". Anything else I can help with?'
    )
    graph = await shop.container.agent.graph()
    state = await graph.aget_state({"configurable": {"thread_id": conversation}})
    contents = [str(m.content) for m in state.values["messages"]]
    assert "my refund for order 10234?" in contents
    assert "Your refund was sent today." in contents


async def test_a_model_hears_what_the_person_said_and_the_shoppers_language(
    stack: Stack,
) -> None:
    stack.openai.script(
        ToolCall("handoff_to_human", {"reason": "asked"}),
        "A colleague will join you.",
        lambda body: " | ".join(str(m.get("content")) for m in body["messages"][1:]),
    )
    async with stack.app() as shop:
        chat = Chat(shop)
        chat.update_id = 500
        await stack.say(shop, "quiero hablar con una persona, por favor")
        admin = await chat.admin()
        conversation = await chat.conversation_id()
        await shop.http.post(
            f"/admin/v1/conversations/{conversation}/messages",
            json={"text": "Te cambiamos la talla sin coste."},
            headers=admin,
        )
        await shop.http.post(f"/admin/v1/conversations/{conversation}/release", headers=admin)
        await shop.work()
        heard = await stack.say(shop, "gracias, y las botas de montaña impermeables?")
        async with shop.container.readers() as session:
            conn = await session.connection()
            (locale,) = (await conn.execute(select(CUSTOMERS.c.locale))).one()
    assert "Te cambiamos la talla sin coste." in heard
    assert locale == "es"
    assert "Reply in Spanish" in system_text(stack.openai.chat_requests[-1])


async def test_a_model_asked_to_hand_over_without_a_request_is_told_to_ask_first(
    stack: Stack,
) -> None:
    stack.openai.script(
        ToolCall("handoff_to_human", {"reason": "seems upset"}),
        lambda body: str(body["messages"][-1]["content"]),
    )
    async with stack.app() as shop:
        reply = await stack.say(shop, "these boots are a bit tight")
        async with shop.container.readers() as session:
            conn = await session.connection()
            (owner,) = (await conn.execute(select(CONVERSATIONS.c.owner))).one()
    assert "needs_confirmation" in reply and owner == "bot"


async def test_compliance_answers_go_in_the_shoppers_language(shop: Shop) -> None:
    chat = Chat(shop)
    await chat.say("hola")
    event = {
        "event_id": "locale-es",
        "type": "identify",
        "customer": {"telegram_id": str(CHAT_ID)},
        "properties": {"locale": "es-ES"},
        "occurred_at": clock.now().isoformat(),
    }
    assert (await shop.http.post("/v1/events", json=event, headers=chat.auth)).status_code < 300
    reply = await chat.say("/help")
    assert reply == shop.container.guardrails.compliance.text("help", "es")
    assert reply.startswith("Es el asistente de la tienda")
