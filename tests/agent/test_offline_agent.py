"""The offline planner picks the tool and filters; the agent answers through a channel."""

from __future__ import annotations

from typing import Any

import pytest

from agent.planner import plan_call
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import tg_text
from tools.catalog.schema import Product, Variant

TOOLS = {"search_products", "get_order_status", "get_profile", "check_eligibility"}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "waterproof running shoes under 80 in size 42",
            ("search_products", {"max_price": 80.0, "size": "42"}),
        ),
        ("black rain jacket in stock", ("search_products", {"colour": "black", "in_stock": True})),
        ("a gift over 50", ("search_products", {"min_price": 50.0})),
        ("where is my order 10234?", ("get_order_status", {"order_id": "10234"})),
        ("has my package shipped", ("get_order_status", {})),
        ("what's in my cart", ("get_profile", {})),
        ("grey hoodie", ("search_products", {"colour": "grey"})),
    ],
)
def test_planner_picks_the_tool_and_filters(
    message: str, expected: tuple[str, dict[str, Any]]
) -> None:
    plan = plan_call(message, TOOLS)
    assert not isinstance(plan, str)
    name, args = plan
    assert name == expected[0]
    assert {k: v for k, v in args.items() if k != "text"} == expected[1]


@pytest.mark.parametrize("message", ["hi", "Hello!", "help", "what can you do?"])
def test_greetings_and_help_are_answered_without_tools(message: str) -> None:
    assert isinstance(plan_call(message, TOOLS), str)


async def test_the_agent_answers_a_shopper_with_product_cards(shop: Shop) -> None:
    catalog = await shop.container.catalog()
    await catalog.upsert(
        [
            Product(
                id="run-1",
                name="Storm Running Shoe",
                description="Waterproof running shoe for rainy days.",
                category=["Shoes", "Running"],
                price=75,
                currency="USD",
                url="https://shop.example/p/run-1",
                image_url="https://shop.example/i/run-1.jpg",
                variants=[Variant(sku="R1-42", size="42", stock=3)],
            ),
            Product(id="pan-1", name="Iron Skillet", price=30, currency="USD"),
        ]
    )
    shop.container.conversations.handler = shop.container.agent
    await shop.telegram_update(tg_text(1, "waterproof running shoes under 80 in size 42"))
    await shop.work()
    text, photo = shop.telegram.sent
    assert text.params["text"].startswith("Here is what I found:")
    assert "Storm Running Shoe: 75.00 USD" in text.params["text"]
    assert (
        photo.method == "sendPhoto" and photo.params["photo"] == "https://shop.example/i/run-1.jpg"
    )
    # The next turn continues the same thread: the checkpointed state holds both messages.
    await shop.telegram_update(tg_text(2, "hi"))
    await shop.work()
    assert shop.telegram.sent[-1].params["text"].startswith("Hi! I can help")
