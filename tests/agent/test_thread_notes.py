"""One thread per conversation, whoever speaks: an automated message and a person's reply from the
inbox are in the agent's thread when the shopper answers, so a scripted model (the real openai
client against the stub) is asked with them; a reply to a reminder marks its decision replied.
Both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.settings import Settings
from profile_store import clock
from profile_store.models import Decision
from tests.admin_tokens import admin_headers
from tests.agent.test_openai_agent import Stack, model_stack
from tests.channels.test_inbound_pipeline import CHAT_ID
from tests.conftest import WRITE_KEY
from tests.scheduler.catalog import PRODUCTS

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
WHO = {"telegram_id": str(CHAT_ID)}


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with model_stack(settings, streaming=False) as ready:
        yield ready


def event(event_id: str, type_: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "customer": WHO,
        "properties": props,
        "occurred_at": clock.now().isoformat(),
    }


def conversation_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's messages after the system prompt, as (role, text)."""
    return [(m["role"], str(m.get("content") or "")) for m in body["messages"][1:]]


async def test_a_reply_to_the_cart_reminder_is_answered_knowing_the_reminder(
    stack: Stack,
) -> None:
    stack.openai.script("Yes, the Fjell Storm Coat comes in M; it is in your cart.")
    async with stack.app() as shop:
        rules = shop.container.guardrails
        shop.container.guardrails = rules.model_copy(
            update={
                "programs": {
                    n: p.model_copy(update={"holdout_percent": 0, "variants": []})
                    for n, p in rules.programs.items()
                }
            }
        )
        products = {"products": PRODUCTS}
        assert (
            await shop.http.post("/v1/catalog/products", json=products, headers=AUTH)
        ).is_success
        consent = event(
            "consent", "consent_changed", channel="telegram", purpose="marketing", status="granted"
        )
        cart = event("cart", "added_to_cart", product_id="coat", price=199.0, currency="USD")
        assert (
            await shop.http.post("/v1/events", json={"batch": [consent, cart]}, headers=AUTH)
        ).is_success
        later = clock.now() + timedelta(minutes=31)
        for step in range(0, 48):  # the scheduler's loop over the next day
            while await shop.container.scheduler.run_once(later + timedelta(minutes=30 * step)):
                pass
        reminder = shop.telegram.sent[0].params["text"]
        assert "Fjell Storm Coat" in reminder

        answer = await stack.say(shop, "yes, in size M?")
        assert answer == "Yes, the Fjell Storm Coat comes in M; it is in your cart."
        asked = conversation_of(stack.openai.chat_requests[-1])
        assert asked[-2:] == [("assistant", reminder), ("user", "yes, in size M?")]
        async with shop.container.sessions() as session:
            conn = await session.connection()
            outcome = await conn.scalar(
                select(DECISIONS.c.outcome).where(DECISIONS.c.program == "cart_abandoned")
            )
        assert outcome == "replied"


async def test_a_persons_reply_is_in_the_thread_when_the_bot_takes_over_again(
    stack: Stack,
) -> None:
    stack.openai.script(
        "Hello! How can I help?", "Glad it arrives on Friday, as my colleague said."
    )
    async with stack.app() as shop:
        admin = await admin_headers(shop.container)
        assert await stack.say(shop, "hi") == "Hello! How can I help?"
        (summary,) = (await shop.http.get("/admin/v1/conversations", headers=admin)).json()
        base = f"/admin/v1/conversations/{summary['id']}"
        await shop.http.post(f"{base}/takeover", headers=admin)
        said = {"text": "Your parcel arrives on Friday."}
        assert (
            await shop.http.post(f"{base}/messages", json=said, headers=admin)
        ).status_code == 202
        await shop.work()
        await shop.http.post(f"{base}/release", headers=admin)
        await shop.work()
        await stack.say(shop, "thanks!")
        asked = conversation_of(stack.openai.chat_requests[-1])
        assert ("assistant", "Your parcel arrives on Friday.") in asked
        assert asked[-1] == ("user", "thanks!")
        # Once in the thread, it is not added again on the next turn.
        stack.openai.script("Anytime.")
        await stack.say(shop, "bye")
        again = conversation_of(stack.openai.chat_requests[-1])
        assert again.count(("assistant", "Your parcel arrives on Friday.")) == 1
