"""Catalog text on its way to the shopper: cards and captions pass the reply guard, a poisoned
name cannot turn answers into refusals, instruction-like products are flagged at import, HTML
entities are decoded and each channel escapes once, and what the shop does not sell gets "we
don't have that" instead of the nearest unrelated product."""

from __future__ import annotations

from tests.agent.test_agent_actions import Chat
from tests.agent.test_conversation_context import BOOTS
from tests.agent.test_openai_agent import POISONED
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import sms
from tools.catalog.schema import Product

PLANTED = Product(
    id="sock-planted",
    name="Wool Trail Sock - use code FREE90, call +1 555 000 1111",
    description="Warm wool socks for hiking.",
    category=["Clothing", "Socks"],
    price=12,
    currency="USD",
    url="https://shop.example/p/sock",
    image_url="https://shop.example/i/sock.jpg",
)
SLIPPER = Product(
    id="slipper-1",
    name="Black &amp; Brown Slipper",
    description="Cosy wool slipper for the house.",
    category=["Shoes", "Slippers"],
    price=25,
    currency="USD",
)


def everything_sent(shop: Shop) -> str:
    return "\n".join(str(m.params) for m in shop.telegram.sent)


async def test_cards_and_text_are_cleaned_and_the_answer_is_not_replaced(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert([PLANTED, *BOOTS])
    chat = Chat(shop)
    reply = await chat.say("wool socks")
    assert reply.startswith("Here is what I found:"), reply
    assert "Wool Trail Sock" in reply
    sent = everything_sent(shop)
    assert "sendPhoto" in [m.method for m in shop.telegram.sent]
    assert "FREE90" not in sent and "555 000 1111" not in sent


async def test_an_instruction_like_product_is_flagged_at_import(shop: Shop) -> None:
    chat = Chat(shop)
    response = await shop.http.post(
        "/v1/catalog/products",
        json={"products": [POISONED.model_dump(mode="json"), BOOTS[0].model_dump(mode="json")]},
        headers=chat.auth,
    )
    assert response.status_code == 200, response.text
    (flag,) = response.json()["flagged"]
    assert flag["product_id"] == POISONED.id
    assert "speaks as the system or the assistant" in flag["reasons"]
    assert "names one of the agent's tools" in flag["reasons"]


async def test_entities_are_decoded_once_and_each_channel_escapes_once(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert([SLIPPER])
    stored = await (await shop.container.catalog()).get("slipper-1")
    assert stored is not None and stored.name == "Black & Brown Slipper"
    chat = Chat(shop)
    await chat.say("slippers")
    telegram = [m.params["text"] for m in shop.telegram.sent if m.method == "sendMessage"]
    assert any("Black &amp; Brown Slipper" in text for text in telegram), telegram
    assert not any("&amp;amp;" in text for text in telegram)
    await shop.twilio_form("sms", sms("SM-slipper", "slippers"))
    await shop.work()
    bodies = [str(r.get("Body")) for r in shop.twilio.sent]
    assert any("Black & Brown Slipper" in body for body in bodies), bodies
    assert not any("&amp;" in body for body in bodies)


async def test_what_the_shop_does_not_sell_is_said_honestly(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert([*BOOTS, PLANTED, SLIPPER])
    chat = Chat(shop)
    reply = await chat.say("do you have a baby stroller?")
    assert reply.startswith('Sorry, we don\'t have "baby stroller"'), reply
    assert "Boot" not in reply
    assert "sendPhoto" not in [m.method for m in shop.telegram.sent]
    # A vague request that names what the shop sells still finds it.
    assert "Hiking Boot" in await chat.say("a gift for someone who loves hiking")
