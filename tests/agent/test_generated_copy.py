"""Model-written copy (``copy: generated``): the model's words go out when the guard lets them;
a code the policy did not grant, a failing model or an overlong answer sends the template.
The real openai client against the scripted stub; both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.settings import Settings
from profile_store import clock
from tests.agent.test_openai_agent import Stack, model_stack
from tests.agent.test_thread_notes import AUTH, event
from tests.channels.conftest import Shop
from tests.fake_providers.openai_api import Outage
from tests.scheduler.catalog import PRODUCTS

TEMPLATE = "Your cart is saved: Fjell Storm Coat (199.00 USD). Ready when you are."


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with model_stack(settings, streaming=False) as ready:
        yield ready


async def a_cart_reminder(shop: Shop) -> str:
    rules = shop.container.guardrails
    cart = rules.program("cart_abandoned").model_copy(
        update={
            "holdout_percent": 0,
            "variants": [],
            "copy_mode": "generated",
            "brief": "Remind them of the coat, warmly; mention the storm season.",
        }
    )
    shop.container.guardrails = rules.model_copy(
        update={
            "programs": {**rules.programs, "cart_abandoned": cart},
            # No discount on a coin flip: the template compared against is the plain one.
            "decisioning": rules.decisioning.model_copy(update={"discount_percent": 0}),
        }
    )
    assert (
        await shop.http.post("/v1/catalog/products", json={"products": PRODUCTS}, headers=AUTH)
    ).is_success
    events: list[dict[str, Any]] = [
        event("c", "consent_changed", channel="telegram", purpose="marketing", status="granted"),
        event("a", "added_to_cart", product_id="coat", price=199.0, currency="USD"),
    ]
    assert (await shop.http.post("/v1/events", json={"batch": events}, headers=AUTH)).is_success
    start = clock.now() + timedelta(minutes=31)
    for step in range(48):
        while await shop.container.scheduler.run_once(start + timedelta(minutes=30 * step)):
            pass
    return str(shop.telegram.sent[0].params["text"])


async def test_the_models_message_goes_out_when_the_guard_lets_it(stack: Stack) -> None:
    stack.openai.script("Storm season is here, and your Fjell Storm Coat is still waiting.")
    async with stack.app() as shop:
        text = await a_cart_reminder(shop)
    assert text == "Storm season is here, and your Fjell Storm Coat is still waiting."
    request = stack.openai.chat_requests[0]
    facts = str(request["messages"][-1]["content"])
    assert "Fjell Storm Coat" in facts and "storm season" in facts  # products and the brief


@pytest.mark.parametrize(
    "answer",
    [
        "Use code FREE90 for 90% off your Fjell Storm Coat!",  # nothing was granted
        "x" * 2000,  # longer than the channel allows
        Outage(503),
    ],
    ids=["ungranted-code", "too-long", "model-down"],
)
async def test_otherwise_the_template_goes_out(stack: Stack, answer: Any) -> None:
    stack.openai.script(answer)
    async with stack.app() as shop:
        assert await a_cart_reminder(shop) == TEMPLATE
