"""The web chat HTTP contract on both databases: sessions, messages through the pipeline,
dedupe, history, quick replies, keywords, identity, and what is refused (forged tokens,
empty or oversized messages, floods, foreign origins)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.factory import create_app
from app.settings import Settings
from app.webchat.mailbox import SESSIONS
from conversations.inbox import CONVERSATIONS, MESSAGES
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.models import Channel
from tests.channels.conftest import Shop
from tests.webchat.conftest import ANON, Visitor, limit_rate, sha256, webchat

GREETING_BUTTONS = ["Running shoes under 80", "Where is my order?", "What can you do?"]


async def rows(shop: Shop, query: object) -> list[object]:
    async with shop.container.readers() as session:
        return list((await (await session.connection()).execute(query)).all())  # type: ignore[call-overload]


async def test_a_session_token_is_a_random_secret_kept_only_as_its_hash(shop: Shop) -> None:
    first = await Visitor.open(shop.http)
    second = await Visitor.open(shop.http)
    assert first.token != second.token and len(first.token) >= 40
    assert first.anonymous_id != second.anonymous_id  # new visitors each
    stored = await rows(shop, select(SESSIONS.c.id, SESSIONS.c.token_hash))
    assert {row.token_hash for row in stored} == {sha256(first.token), sha256(second.token)}  # type: ignore[attr-defined]
    # A new visitor is greeted, with the quick replies from the guardrails.
    (greeting,) = await first.history()
    assert greeting["from"] == "bot" and greeting["seq"] == 1
    assert greeting["text"] == shop.container.guardrails.webchat.greeting
    assert [b["label"] for b in greeting["buttons"]] == GREETING_BUTTONS


async def test_a_message_is_stored_then_answered_through_the_pipeline(
    shop: Shop, visitor: Visitor
) -> None:
    response = await visitor.say("do you have rain jackets?")
    assert response.status_code == 202
    assert response.json() == {"seq": 2, "duplicate": False}
    (stored,) = await rows(shop, select(MESSAGES).where(MESSAGES.c.direction == "in"))
    assert stored.channel == "webchat" and stored.status == "pending"  # type: ignore[attr-defined]

    assert await shop.work() == 1
    history = await visitor.history()
    assert [(m["seq"], m["from"], m["text"]) for m in history] == [
        (1, "bot", shop.container.guardrails.webchat.greeting),
        (2, "shopper", "do you have rain jackets?"),
        (3, "bot", "echo: do you have rain jackets?"),
    ]
    assert history[2]["created_at"].endswith("Z")
    (turn,) = shop.handler.turns
    assert turn.channel.value == "webchat" and turn.address == ANON
    (reply,) = await rows(shop, select(MESSAGES).where(MESSAGES.c.direction == "out"))
    assert reply.status == "sent" and reply.provider_message_id.startswith("entry:")  # type: ignore[attr-defined]
    assert await visitor.history(after=2) == history[2:]


async def test_a_resent_message_is_stored_and_answered_once(shop: Shop, visitor: Visitor) -> None:
    for _ in range(3):  # the page lost the answer and sent again
        response = await visitor.say("hello", client_message_id="c-1")
    assert response.status_code == 202
    assert response.json() == {"seq": 2, "duplicate": True}
    await shop.work()
    assert await visitor.said() == [
        ("bot", shop.container.guardrails.webchat.greeting),
        ("shopper", "hello"),
        ("bot", "echo: hello"),
    ]
    assert len(shop.handler.turns) == 1


async def test_a_pressed_quick_reply_is_the_turn_and_shows_its_label(
    shop: Shop, visitor: Visitor
) -> None:
    greeting = webchat(shop).rules().webchat
    shop.container.guardrails = shop.container.guardrails.model_copy(
        update={
            "webchat": greeting.model_copy(
                update={
                    "quick_replies": [
                        greeting.quick_replies[0].model_copy(
                            update={"label": "Shoes", "payload": "running shoes under 80"}
                        )
                    ]
                }
            )
        }
    )
    pressed = await Visitor.open(shop.http)
    (offered,) = (await pressed.history())[0]["buttons"]
    assert offered == {"label": "Shoes", "payload": "running shoes under 80"}
    assert (await pressed.press("running shoes under 80")).status_code == 202
    await shop.work()
    assert (await pressed.said())[1:] == [
        ("shopper", "Shoes"),
        ("bot", "echo: running shoes under 80"),
    ]
    (stored,) = await rows(shop, select(MESSAGES.c.kind).where(MESSAGES.c.direction == "in"))
    assert stored.kind == "callback"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        {"client_message_id": "m1", "text": ""},
        {"client_message_id": "m1", "text": "   \n "},
        {"client_message_id": "m1", "text": "x" * 4001},
        {"client_message_id": "m1", "payload": "x" * 4001},
        {"client_message_id": "m1"},
        {"client_message_id": "m1", "text": "hi", "payload": "hi"},
        {"client_message_id": "", "text": "hi"},
        {"text": "hi"},
    ],
    ids=["empty", "blank", "too long", "payload too long", "nothing", "both", "no id", "no id 2"],
)
async def test_an_empty_or_oversized_message_is_422_and_nothing_is_stored(
    shop: Shop, visitor: Visitor, body: dict[str, str]
) -> None:
    response = await visitor.post(body)
    assert response.status_code == 422, response.text
    assert not await rows(shop, select(MESSAGES))
    assert len(await visitor.history()) == 1  # the greeting only


async def test_a_message_of_exactly_4000_characters_is_taken(shop: Shop, visitor: Visitor) -> None:
    assert (await visitor.say("x" * 4000)).status_code == 202


async def test_a_forged_token_is_401_everywhere_and_nothing_is_stored(
    shop: Shop, visitor: Visitor
) -> None:
    other = await Visitor.open(shop.http)
    last = "B" if visitor.token.endswith("A") else "A"  # one character off, never the same token
    for token in ("forged", other.token, visitor.token[:-1] + last):
        forged = await visitor.post({"client_message_id": "x", "text": "hi"}, token=token)
        assert forged.status_code == 401, token
        assert forged.headers["WWW-Authenticate"] == "Bearer"
        for path in ("/messages", "/stream"):
            read = await shop.http.get(
                visitor.url(path), headers={"Authorization": f"Bearer {token}"}
            )
            assert read.status_code == 401
            read = await shop.http.get(visitor.url(path), params={"token": token})
            assert read.status_code == 401
    missing = await shop.http.post(visitor.url("/messages"), json={"client_message_id": "x"})
    assert missing.status_code == 401 and "missing session token" in missing.json()["detail"]
    unknown = await shop.http.get(
        "/webchat/v1/sessions/wcs_nope/messages",
        headers={"Authorization": f"Bearer {visitor.token}"},
    )
    assert unknown.status_code == 401
    assert not await rows(shop, select(MESSAGES))
    # The token in the query string works for reading (EventSource cannot send headers).
    assert (
        await shop.http.get(visitor.url("/messages"), params={"token": visitor.token})
    ).is_success


async def test_a_flood_is_429_with_retry_after_per_session(
    shop: Shop, visitor: Visitor, test_clock: ShiftedClock
) -> None:
    limit_rate(shop, 3, seconds=60)
    start = clock.now()
    for n in range(3):
        assert (await visitor.say(f"message {n}")).status_code == 202
    flood = await visitor.say("one more")
    assert flood.status_code == 429
    assert 55 <= int(flood.headers["Retry-After"]) <= 60
    assert "too many messages" in flood.json()["detail"]
    # What was refused is not stored; a resend of an accepted message is still fine.
    assert (await visitor.say("message 0", client_message_id="m1")).json()["duplicate"] is True
    assert len(await rows(shop, select(MESSAGES))) == 3
    # The limit is the session's: another visitor is not held back.
    assert (await (await Visitor.open(shop.http)).say("hi")).status_code == 202
    # Once the window has passed, the visitor may write again.
    test_clock.set(start + timedelta(seconds=61))
    assert (await visitor.say("back again")).status_code == 202


async def test_a_returning_visitor_continues_the_same_conversation(shop: Shop) -> None:
    before = await Visitor.open(shop.http, ANON)
    await before.say("first visit")
    await shop.work()
    later = await Visitor.open(shop.http, ANON)  # a new session, the same visitor
    assert later.anonymous_id == ANON
    assert await later.said() == await before.said()  # no second greeting, the whole history
    await later.say("second visit", client_message_id="m1")  # the page's ids may repeat
    await shop.work()
    assert (await before.said())[-2:] == [
        ("shopper", "second visit"),
        ("bot", "echo: second visit"),
    ]
    assert len(await rows(shop, select(CONVERSATIONS))) == 1
    assert {turn.conversation_id for turn in shop.handler.turns} == {
        shop.handler.turns[0].conversation_id
    }


async def test_visitors_never_see_each_others_messages(shop: Shop) -> None:
    ann = await Visitor.open(shop.http, "ann-" + "a" * 20)
    bob = await Visitor.open(shop.http, "bob-" + "b" * 20)
    await ann.say("my address is 1 Main St")
    await bob.say("hello")
    await shop.work()
    assert [text for _, text in await bob.said()][1:] == ["hello", "echo: hello"]
    assert [text for _, text in await ann.said()][1:] == [
        "my address is 1 Main St",
        "echo: my address is 1 Main St",
    ]
    turns = {turn.address: turn for turn in shop.handler.turns}
    assert turns[bob.anonymous_id].texts == ["hello"]
    assert turns[ann.anonymous_id].customer_id != turns[bob.anonymous_id].customer_id
    # Bob's token opens nothing of Ann's.
    peek = await shop.http.get(ann.url("/messages"), headers=bob.auth)
    assert peek.status_code == 401


async def test_an_identify_event_merges_the_visitor_into_the_known_profile(
    shop: Shop, visitor: Visitor
) -> None:
    await visitor.say("hi")
    await shop.work()
    auth = {"Authorization": f"Bearer {shop.container.write_key}"}
    event = {
        "event_id": "identify-1",
        "type": "identify",
        "customer": {"anonymous_id": ANON, "email": "ann@example.com"},
        "properties": {"first_name": "Ann"},
        "occurred_at": clock.now().isoformat(),
    }
    assert (await shop.http.post("/v1/events", json=event, headers=auth)).is_success
    profile = (await shop.http.get("/v1/profiles/ann@example.com", headers=auth)).json()
    assert {"kind": "anonymous_id", "value": ANON} in [
        {"kind": i["kind"], "value": i["value"]} for i in profile["identities"]
    ]
    await visitor.say("it's me again")
    await shop.work()
    assert shop.handler.turns[-1].customer_id == profile["customer_id"]


async def test_stop_opts_the_visitor_out_of_web_chat_only(shop: Shop, visitor: Visitor) -> None:
    rules = shop.container.guardrails
    assert rules.compliance.keywords.for_channel(Channel.WEBCHAT) is not None
    await visitor.say("STOP")
    await shop.work()
    assert (await visitor.said())[-1] == ("bot", rules.compliance.opt_out)
    await visitor.say("cancel my order")  # no carrier words on web chat: this is no keyword
    await shop.work()
    assert (await visitor.said())[-1] == ("shopper", "cancel my order")  # silenced: no answer
    assert not shop.handler.turns
    await visitor.say("START")
    await shop.work()
    assert (await visitor.said())[-1] == ("bot", rules.compliance.opt_in)
    await visitor.say("hi")
    await shop.work()
    assert (await visitor.said())[-1] == ("bot", "echo: hi")


async def test_a_short_or_strange_anonymous_id_is_422(shop: Shop) -> None:
    for anonymous_id in ("abc", "x" * 201, "visitor id with spaces!!"):
        response = await shop.http.post("/webchat/v1/sessions", json={"anonymous_id": anonymous_id})
        assert response.status_code == 422, anonymous_id
    assert not await rows(shop, select(SESSIONS))


async def test_a_person_takes_over_and_replies_from_the_console_api(
    shop: Shop, visitor: Visitor
) -> None:
    from tests.admin_tokens import admin_headers

    admin = await admin_headers(shop.container)
    await visitor.say("my parcel arrived damaged")
    await shop.work()
    (listed,) = (await shop.http.get("/admin/v1/conversations", headers=admin)).json()
    assert listed["channel"] == "webchat" and listed["address"] == ANON
    taken = await shop.http.post(f"/admin/v1/conversations/{listed['id']}/takeover", headers=admin)
    assert taken.status_code == 200
    await visitor.say("hello?")
    await shop.work()
    assert (await visitor.said())[-1] == ("shopper", "hello?")  # the bot stays silent
    reply = await shop.http.post(
        f"/admin/v1/conversations/{listed['id']}/messages",
        json={"text": "So sorry! A replacement ships today."},
        headers=admin,
    )
    assert reply.status_code in (200, 201, 202), reply.text
    await shop.work()
    assert (await visitor.said())[-1] == ("human", "So sorry! A replacement ships today.")


async def test_the_page_and_the_widget_are_served(shop: Shop) -> None:
    page = await shop.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/webchat/widget.js"' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    widget = await shop.http.get("/webchat/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript")
    # Text from the server is only ever set as text, never parsed as HTML.
    assert "innerHTML" not in widget.text and "insertAdjacentHTML" not in widget.text
    spec = (await shop.http.get("/openapi.json")).json()
    for path in (
        "/webchat/v1/sessions",
        "/webchat/v1/sessions/{session_id}/messages",
        "/webchat/v1/sessions/{session_id}/stream",
    ):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/webchat/v1/sessions/{session_id}/messages"]) == {"get", "post"}


async def test_only_allowed_origins_may_call_web_chat(settings: Settings) -> None:
    allowed = "https://brand.example"
    app = create_app(
        Settings(
            _env_file=None,
            **settings.model_dump()
            | {"public_url": "https://bot.example", "webchat_allowed_origins": [allowed]},
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://bot.example"
        ) as http,
    ):
        preflight = await http.options(
            "/webchat/v1/sessions",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        created = await http.post("/webchat/v1/sessions", json={}, headers={"Origin": allowed})
        assert created.status_code == 201
        assert created.headers["access-control-allow-origin"] == allowed
        # The app's own page (same host) needs no listing; any other page is refused.
        own = await http.post(
            "/webchat/v1/sessions", json={}, headers={"Origin": "https://bot.example"}
        )
        assert own.status_code == 201
        for origin in ("https://evil.example", "null", "https://brand.example.evil.example"):
            refused = await http.post("/webchat/v1/sessions", json={}, headers={"Origin": origin})
            assert refused.status_code == 403, origin
            assert "CHATCOMMERCE_WEBCHAT_ALLOWED_ORIGINS" in refused.json()["detail"]
            assert "access-control-allow-origin" not in refused.headers
        # Other APIs are not touched by the web chat origin rules.
        assert (await http.get("/healthz", headers={"Origin": "https://evil.example"})).is_success
        async with app.state.container.readers() as session:
            count = await (await session.connection()).scalar(
                select(func.count()).select_from(SESSIONS)
            )
        assert count == 2


async def test_web_chat_switched_off_serves_nothing_and_is_no_channel(settings: Settings) -> None:
    app = create_app(Settings(_env_file=None, **settings.model_dump() | {"webchat_enabled": False}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for method, path in (
            ("GET", "/"),
            ("GET", "/webchat/widget.js"),
            ("POST", "/webchat/v1/sessions"),
        ):
            response = await http.request(method, path)
            assert response.status_code == 404
            assert "CHATCOMMERCE_WEBCHAT_ENABLED" in response.json()["detail"]
        assert Channel.WEBCHAT not in app.state.container.channels.available


def test_serve_prints_the_web_chat_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from app.cli import cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("CHATCOMMERCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHATCOMMERCE_WRITE_KEY", "k")
    served = CliRunner().invoke(cli, ["serve", "--port", "8123"])
    assert served.exit_code == 0, served.output
    assert "Web chat: http://127.0.0.1:8123/" in served.output
    assert calls and calls[0]["port"] == 8123
    monkeypatch.setenv("CHATCOMMERCE_WEBCHAT_ENABLED", "false")
    assert "Web chat" not in CliRunner().invoke(cli, ["serve"]).output


async def test_the_console_inbox_lists_web_chat_and_a_person_replies_there(
    shop: Shop, visitor: Visitor
) -> None:
    from app.console.session import csrf_token
    from tests.console.test_console_pages import client, signed_in

    await visitor.say("my parcel arrived damaged")
    await shop.work()
    (conversation,) = await rows(shop, select(CONVERSATIONS.c.id))
    cid = conversation.id  # type: ignore[attr-defined]
    async with client(shop.app) as console:
        csrf = csrf_token(await signed_in(shop.app, console))
        inbox = await console.get("/console/conversations")
        assert "webchat" in inbox.text and f"/console/conversations/{cid}" in inbox.text
        thread = await console.get(f"/console/conversations/{cid}")
        assert "my parcel arrived damaged" in thread.text
        taken = await console.post(f"/console/conversations/{cid}/takeover", data={"csrf": csrf})
        assert taken.status_code == 303
        sent = await console.post(
            f"/console/conversations/{cid}/reply",
            data={"csrf": csrf, "text": "A replacement ships today."},
        )
        assert sent.status_code == 303
    await shop.work()
    assert (await visitor.said())[-1] == ("human", "A replacement ships today.")
