"""Follow-ups act on what the shopper saw, through Telegram and the real pipeline, offline:
ordinals, refinements ("cheaper?", "in 42?", "show me more"), corrections, "never mind", a
digression in the middle of a confirmation, products an automated message put in the thread,
and what the profile summary answers ("what was in my cart?", "the usual size?")."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage

from agent.planner_answers import NEVER_MIND, WHICH_PRODUCT
from profile_store import clock
from tests.agent.test_agent_actions import CONVERSATIONS, DECISIONS, TIMERS, Chat
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID
from tools.catalog.schema import Product, Variant

BOOTS = [
    Product(
        id="boot-ridge",
        name="Ridge Hiking Boot",
        description="Leather hiking boot.",
        category=["Shoes", "Hiking"],
        price=120,
        currency="USD",
        variants=[
            Variant(sku="RI-42", size="42", colour="black", stock=0),
            Variant(sku="RI-43", size="43", colour="black", stock=2),
        ],
    ),
    Product(
        id="boot-summit",
        name="Summit Hiking Boot",
        description="Waterproof hiking boot.",
        category=["Shoes", "Hiking"],
        price=100,
        currency="USD",
        variants=[
            Variant(sku="SU-42", size="42", colour="blue", stock=0),
            Variant(sku="SU-44", size="44", colour="blue", stock=1),
        ],
    ),
    Product(
        id="boot-cliff",
        name="Cliff Hiking Boot",
        description="Light hiking boot.",
        category=["Shoes", "Hiking"],
        price=90,
        currency="USD",
        variants=[
            Variant(sku="CL-42", size="42", colour="brown", stock=0),
            Variant(sku="CL-41", size="41", colour="brown", stock=3),
        ],
    ),
    Product(
        id="sandal-trail",
        name="Trail Walking Sandal",
        description="Open sandal for summer walks.",
        category=["Shoes", "Hiking"],
        price=40,
        currency="USD",
        variants=[Variant(sku="TS-42", size="42", colour="black", stock=5)],
    ),
]
BY_NAME = {p.name: p for p in BOOTS}
LINE = re.compile(r"^\d\. (.+): (\d+\.\d\d) USD$", re.M)


async def searched(shop: Shop) -> tuple[Chat, list[Product]]:
    """A shopper who asked for hiking boots, and the boots in the order they were shown."""
    await (await shop.container.catalog()).upsert(BOOTS)
    chat = Chat(shop)
    reply = await chat.say("hiking boots")
    shown = [BY_NAME[name] for name, _ in LINE.findall(reply)]
    assert len(shown) == 3, reply
    return chat, shown


async def test_an_ordinal_with_a_colour_asks_about_that_product(shop: Shop) -> None:
    chat, shown = await searched(shop)
    second = shown[1]
    reply = await chat.say("the second one in blue")
    comes_in_blue = any(v.colour == "blue" for v in second.variants)
    expected = f"Yes, {second.name} comes in blue" if comes_in_blue else f"{second.name} doesn't"
    assert expected in reply, reply


async def test_cheaper_means_cheaper_products_not_a_discount(shop: Shop) -> None:
    chat, shown = await searched(shop)
    reply = await chat.say("cheaper?")
    prices = [float(price) for _, price in LINE.findall(reply)]
    assert prices and max(prices) < min(p.price for p in shown), reply
    assert "CC-" not in reply
    assert not await chat.rows(DECISIONS, DECISIONS.c.action == "offer_discount")


async def test_cheaper_with_nothing_shown_asks_which_product(shop: Shop) -> None:
    chat = Chat(shop)
    assert await chat.say("cheaper?") == WHICH_PRODUCT
    assert not await chat.rows(DECISIONS)


async def test_show_me_more_leaves_out_what_was_shown(shop: Shop) -> None:
    chat, shown = await searched(shop)
    reply = await chat.say("show me more")
    more = [name for name, _ in LINE.findall(reply)]
    assert more and not set(more) & {p.name for p in shown}, reply


async def test_a_stock_question_and_the_watch_after_it_are_about_the_chosen_product(
    shop: Shop,
) -> None:
    chat, shown = await searched(shop)
    second = shown[1]
    assert second.name in await chat.say("the second one")
    reply = await chat.say("is it in stock in 42?")
    assert f"{second.name} isn't in stock in size 42" in reply, reply
    assert "back in stock" in await chat.say("yes")
    (watch,) = await chat.rows(TIMERS, TIMERS.c.kind == "back_in_stock")
    assert watch.anchor == second.id and watch.details["size"] == "42"


async def test_a_correction_picks_the_product_the_shopper_meant(shop: Shop) -> None:
    chat, shown = await searched(shop)
    first = shown[0]
    blue = BY_NAME["Summit Hiking Boot"]
    await chat.say("the first one")
    reply = await chat.say("no, I meant the blue one")
    assert blue.name in reply and (first is blue or first.name not in reply), reply


async def test_never_mind_drops_the_offer_of_a_person(shop: Shop) -> None:
    chat = Chat(shop)
    offer = await chat.say("I need an invoice for my order")
    assert "colleague" in offer and offer.endswith("?")
    assert await chat.say("never mind") == NEVER_MIND
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "bot"


async def test_a_digression_mid_confirmation_is_answered_and_the_question_lapses(
    shop: Shop,
) -> None:
    await (await shop.container.catalog()).upsert(BOOTS)
    chat = Chat(shop)
    assert "colleague" in await chat.say("I need an invoice for my order")
    assert "Hiking Boot" in await chat.say("hiking boots")  # answered, not a yes or a no
    await chat.say("yes")  # the offer of a person lapsed with the digression
    (row,) = await chat.rows(CONVERSATIONS)
    assert row.owner == "bot"
    assert not await chat.rows(DECISIONS, DECISIONS.c.action == "handoff_to_human")


async def test_products_of_an_automated_message_count_as_shown(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert(BOOTS)
    chat = Chat(shop)
    await chat.say("hi")
    graph = await shop.container.agent.graph()
    config: Any = {"configurable": {"thread_id": await chat.conversation_id()}}
    reminder = AIMessage(
        "Still thinking about the Ridge Hiking Boot? It's waiting in your cart.",
        response_metadata={
            "origin": {
                "program": "cart_abandoned",
                "decision_id": "dec_test",
                "product_ids": ["boot-ridge"],
            }
        },
    )
    await graph.aupdate_state(config, {"messages": [reminder]}, as_node="remember")
    reply = await chat.say("in 42?")
    assert "Ridge Hiking Boot isn't in stock in size 42" in reply, reply
    assert "Ridge Hiking Boot" in await chat.say("do you have it in 43")
    shown = await chat.say("yes")
    assert "Here it is: Ridge Hiking Boot" in shown, shown


async def test_the_profile_summary_answers_cart_and_size_questions(shop: Shop) -> None:
    await (await shop.container.catalog()).upsert(BOOTS)
    chat = Chat(shop)
    await chat.say("hi")  # the shopper exists now
    event = {
        "event_id": "cart-1",
        "type": "added_to_cart",
        "customer": {"telegram_id": str(CHAT_ID)},
        "properties": {"product_id": "boot-cliff", "quantity": 1, "price": 90, "currency": "USD"},
        "occurred_at": clock.now().isoformat(),
    }
    assert (await shop.http.post("/v1/events", json=event, headers=chat.auth)).status_code < 300
    assert await chat.say("what was in my cart?") == "In your cart: 1 x Cliff Hiking Boot."
    assert "don't have your size" in await chat.say("the usual size?")
    await chat.say("my size is 42")
    assert await chat.say("the usual size?") == "Your usual size is 42."


async def test_a_digression_while_a_discount_waits_is_answered_and_remembered(
    shop: Shop,
) -> None:
    chat = Chat(shop)
    await chat.set_tier("gold")  # demo ceiling 20%, approval above 15%
    assert "approve" in await chat.say("could I have 18% off please")
    reply = await chat.say("where is my order?")
    # The digression is answered (a Telegram shopper verifies before order details).
    assert "confirm it's you" in reply and "still waiting" in reply, reply
    admin = await chat.admin()
    (pending,) = (await shop.http.get("/admin/v1/approvals", headers=admin)).json()
    before = len(shop.telegram.sent)
    await shop.http.post(f"/admin/v1/approvals/{pending['id']}/approve", headers=admin)
    await shop.work()
    (sent,) = shop.telegram.sent[before:]
    assert "18% off" in sent.params["text"] and "CC-" in sent.params["text"]
    graph = await shop.container.agent.graph()
    config: Any = {"configurable": {"thread_id": await chat.conversation_id()}}
    contents = [str(m.content) for m in (await graph.aget_state(config)).values["messages"]]
    assert "where is my order?" in contents
    assert contents.index("could I have 18% off please") < contents.index("where is my order?")
