"""End to end on Telegram: verify first, propose, a yes in a new message, a person's hand (no
shop webhook), and the confirmation on the same channel when the shop's event comes back."""

from __future__ import annotations

from typing import Any

from profile_store import clock
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID, tg_text
from tests.conftest import WRITE_KEY
from tests.orders.helpers import days_ago, event, placed

TG = {"telegram_id": str(CHAT_ID)}


async def events(shop: Shop, *batch: dict[str, Any]) -> None:
    response = await shop.http.post(
        "/v1/events",
        json={"batch": list(batch)},
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
    )
    assert response.status_code == 200, response.text


async def say(shop: Shop, update_id: int, text: str) -> str:
    await shop.telegram_update(tg_text(update_id, text))
    await shop.work()
    return str(shop.telegram.sent[-1].params["text"])


async def test_cancel_over_telegram(shop: Shop) -> None:
    await events(shop, placed(TG, "A1001", days_ago(1)))
    shop.container.conversations.handler = shop.container.agent
    assert "confirm it's you" in await say(shop, 1, "where is my order?")
    assert "confirmed" in await say(shop, 2, "it's ada@example.com")
    assert "is placed" in await say(shop, 3, "where is my order A1001?")
    proposal = await say(shop, 4, "cancel my order A1001")
    assert "cancel order A1001" in proposal and "Shall I go ahead?" in proposal
    done = await say(shop, 5, "yes")
    assert "colleague will cancel order A1001" in done
    await events(shop, event("order_cancelled", TG, clock.now(), order_id="A1001"))
    await shop.work()
    assert shop.telegram.sent[-1].params["text"].startswith("Done: your order A1001 is cancelled")
