"""The web chat event stream over a real port, on both databases: replies arrive as they are
stored, a reconnect resumes after Last-Event-ID, another API process's stream gets them from
the table, and a scheduled follow-up reaches an open page."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.factory import create_app
from app.settings import Settings
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.models import Decision, ScheduledSend
from tests.channels.conftest import Shop
from tests.fake_providers.server import serve
from tests.webchat.conftest import ANON, EventReader, Visitor, open_stream, webchat
from tools.catalog.schema import Product, Variant

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]


def typing_states(reader: EventReader) -> list[bool]:
    return [e.data["typing"] for e in reader.events if e.event == "typing"]


async def test_the_stream_shows_typing_then_the_reply_the_moment_it_is_stored(shop: Shop) -> None:
    async with serve(shop.app) as url, httpx.AsyncClient(base_url=url) as http:
        visitor = await Visitor.open(http, ANON)
        async with open_stream(http, visitor, after=1) as stream:
            assert (await visitor.say("hello there")).status_code == 202
            await stream.until(lambda s: typing_states(s) == [True])
            assert [(m["seq"], m["from"]) for m in stream.messages] == [(2, "shopper")]
            await shop.work()
            await stream.until(lambda s: len(s.messages) == 2 and typing_states(s) == [True, False])
            reply = stream.messages[1]
            assert (reply["seq"], reply["from"], reply["text"]) == (3, "bot", "echo: hello there")
            assert [e.id for e in stream.events if e.event == "message"] == ["2", "3"]


async def test_a_reconnect_resumes_after_the_last_event_id(shop: Shop) -> None:
    async with serve(shop.app) as url, httpx.AsyncClient(base_url=url) as http:
        visitor = await Visitor.open(http, ANON)
        await visitor.say("one")
        await shop.work()
        await visitor.say("two")
        await shop.work()
        # The browser saw up to 3 and reconnects: Last-Event-ID wins over the URL's ?after.
        async with open_stream(http, visitor, after=0, last_event_id="3") as stream:
            await stream.until(lambda s: len(s.messages) == 2)
            assert [(m["seq"], m["text"]) for m in stream.messages] == [
                (4, "two"),
                (5, "echo: two"),
            ]


async def test_a_stream_ends_after_its_time_and_the_next_one_misses_nothing(shop: Shop) -> None:
    chat = webchat(shop)
    chat.config = replace(chat.config, stream_seconds=0.3)
    async with serve(shop.app) as url, httpx.AsyncClient(base_url=url) as http:
        visitor = await Visitor.open(http, ANON)
        async with open_stream(http, visitor) as stream:
            await stream.until(lambda s: s.ended)
            assert [m["seq"] for m in stream.messages] == [1]
        await visitor.say("while away")
        await shop.work()
        async with open_stream(http, visitor, last_event_id="1") as stream:
            await stream.until(lambda s: len(s.messages) == 2)
            assert [m["text"] for m in stream.messages] == ["while away", "echo: while away"]


async def test_a_stream_on_another_api_process_gets_the_reply_from_the_table(
    shop: Shop, settings: Settings
) -> None:
    # A second app on the same database: nothing in memory is shared with the first one.
    other = create_app(
        Settings(
            _env_file=None,
            **settings.model_dump() | {"webchat_poll_seconds": 0.1, "webchat_enabled": True},
        )
    )
    async with (
        other.router.lifespan_context(other),
        serve(other) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        visitor = await Visitor.open(http, ANON)
        async with open_stream(http, visitor, after=1) as stream:
            # The message goes in through the first process, whose worker answers it.
            local = Visitor(shop.http, visitor.session_id, visitor.token, ANON)
            assert (await local.say("from the other side")).status_code == 202
            await shop.work()
            await stream.until(lambda s: len(s.messages) == 2, seconds=5)
            assert stream.messages[1]["text"] == "echo: from the other side"


async def test_a_scheduled_follow_up_reaches_the_open_page(
    shop: Shop, test_clock: ShiftedClock
) -> None:
    catalog = await shop.container.catalog()
    await catalog.upsert(
        [
            Product(
                id="run-1",
                name="Storm Running Shoe",
                description="Light running shoe for road running.",
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
    async with serve(shop.app) as url, httpx.AsyncClient(base_url=url) as http:
        visitor = await Visitor.open(http, ANON)
        await visitor.say("running shoes under 80")
        await shop.work()
        answer = (await visitor.history())[-1]
        assert answer["from"] == "bot" and answer["text"]
        card = answer["cards"][0]
        assert card["name"] == "Storm Running Shoe" and card["price"] == 75
        assert card["url"] == "https://shop.example/p/run-1" and card["image_url"]
        labels = [b["label"] for b in answer["buttons"]]
        assert labels == ["Remind me tomorrow", "Talk to a person"]

        await visitor.press("Remind me tomorrow")
        await shop.work()
        confirmed = (await visitor.history())[-1]
        assert "remind you" in confirmed["text"]
        last = confirmed["seq"]

        async with open_stream(http, visitor, after=last) as stream:
            test_clock.set(clock.now() + timedelta(days=1, hours=1))
            while await shop.container.scheduler.run_once():
                pass
            await stream.until(lambda s: len(s.messages) == 1)
            (reminder,) = stream.messages
    async with shop.container.readers() as session:
        conn = await session.connection()
        decided = (
            await conn.execute(select(DECISIONS).where(DECISIONS.c.trigger == "reminder"))
        ).one()
        (sent,) = (await conn.execute(select(SENDS.c.payload))).all()
    assert decided.channel == "webchat" and decided.outcome == "sent"
    assert reminder["from"] == "bot" and reminder["text"] == sent.payload["text"]
