"""The offline planner picks the tool and filters; the agent answers through a channel."""

from __future__ import annotations

from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import tg_text
from tools.catalog.schema import Product, Variant


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
