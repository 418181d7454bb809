"""Exactly once under real timing: a model slower than the lease, a model that fails for a while,
a turn that times out. The real agent and the real ``openai`` client talk to the scripted stub;
the shopper is on the fake Telegram. Both databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.settings import Settings
from conversations.inbox import CONVERSATIONS, MESSAGES
from conversations.worker import ConversationWorker
from policy.guardrails import AgentConfig
from profile_store import clock
from profile_store.models import TriggerTimer
from tests.agent.test_openai_agent import Stack, model_stack
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import tg_text
from tests.fake_providers.openai_api import Outage, Slow, ToolCall

TIMERS = TriggerTimer.__table__  # type: ignore[attr-defined]
HOLDING = AgentConfig().holding_reply
FAILURE = AgentConfig().failure_reply


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with model_stack(settings, streaming=False) as ready:
        yield ready


def reminder_call(_: dict[str, Any]) -> ToolCall:
    when = (clock.now() + timedelta(days=1)).isoformat()
    return ToolCall("schedule_follow_up", {"kind": "reminder", "when": when, "note": "boots"})


def texts(stack: Stack) -> list[str]:
    return [m.params["text"] for m in stack.telegram.sent if m.method == "sendMessage"]


async def reminders(shop: Shop) -> int:
    async with shop.container.sessions() as session:
        conn = await session.connection()
        query = select(func.count()).select_from(TIMERS).where(TIMERS.c.kind == "reminder")
        return int(await conn.scalar(query) or 0)


async def user_messages_sent_to_model(stack: Stack) -> list[str]:
    last = stack.openai.chat_requests[-1]["messages"]
    return [m["content"] for m in last if m["role"] == "user"]


async def test_a_turn_twice_as_long_as_the_lease_is_answered_once_by_two_workers(
    stack: Stack,
) -> None:
    stack.openai.script(Slow(4.0, reminder_call), "I'll remind you tomorrow about the boots.")
    async with stack.app() as shop:
        first = shop.container.conversations
        first.config = first.config.model_copy(update={"lease": timedelta(seconds=2)})
        second = ConversationWorker(
            first.sessions, first.adapters, first.handler, first.rules, first.config, first.readers
        )
        first.config = first.config.model_copy(update={"poll_seconds": 0.05})
        second.config = first.config
        first.start()
        second.start()
        try:
            await shop.telegram_update(tg_text(1, "remind me about the boots tomorrow"))
            for _ in range(400):
                if texts(stack):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)  # long enough for a second worker to have stepped in
        finally:
            await first.stop()
            await second.stop()
        assert texts(stack) == ["I'll remind you tomorrow about the boots."]
        assert await reminders(shop) == 1  # the tool ran once
        assert len(stack.openai.chat_requests) == 2  # and the model was asked once per step


async def test_a_model_outage_is_retried_and_the_shopper_gets_the_real_answer_once(
    stack: Stack,
) -> None:
    stack.openai.script(Outage(503), Outage(500), "Yes, the Ridge boot comes in 42.")
    async with stack.app() as shop:
        worker = shop.container.conversations
        await shop.telegram_update(tg_text(1, "do you have the ridge boot in 42?"))
        start = clock.now()
        assert await worker.run_once() == 1  # try 1 fails: "one moment"
        assert texts(stack) == [HOLDING]
        assert await worker.run_once() == 0  # nothing due during the backoff
        assert await worker.run_once(now=start + timedelta(seconds=25)) == 1  # try 2 fails
        assert texts(stack) == [HOLDING]  # one holding reply, not one per try
        assert await worker.run_once(now=start + timedelta(seconds=25 + 95)) == 1  # try 3
        assert texts(stack) == [HOLDING, "Yes, the Ridge boot comes in 42."]
        assert await user_messages_sent_to_model(stack) == ["do you have the ridge boot in 42?"]
        async with shop.container.sessions() as session:
            conn = await session.connection()
            inbound = (
                await conn.execute(select(MESSAGES).where(MESSAGES.c.direction == "in"))
            ).one()
            conversation = (await conn.execute(select(CONVERSATIONS))).one()
        assert inbound.status == "handled" and inbound.attempts == 2 and inbound.error is None
        assert conversation.attention is None and conversation.due_at is None


async def test_a_failure_after_a_tool_resumes_without_running_the_tool_again(
    stack: Stack,
) -> None:
    stack.openai.script(reminder_call, Outage(502), "Done: I'll remind you tomorrow.")
    async with stack.app() as shop:
        worker = shop.container.conversations
        await shop.telegram_update(tg_text(1, "remind me tomorrow"))
        await worker.run_once()
        assert await reminders(shop) == 1
        await worker.run_once(now=clock.now() + timedelta(seconds=25))
        assert texts(stack) == [HOLDING, "Done: I'll remind you tomorrow."]
        assert await reminders(shop) == 1
        # The model saw the tool's result from the first try, not a second call.
        assert [m["role"] for m in stack.openai.chat_requests[-1]["messages"]][-2:] == [
            "assistant",
            "tool",
        ]


async def test_when_every_try_fails_the_shopper_is_told_and_a_person_is_asked(
    stack: Stack,
) -> None:
    stack.openai.script(Outage(503), Outage(503), Outage(503))
    async with stack.app() as shop:
        worker = shop.container.conversations
        await shop.telegram_update(tg_text(1, "where is my order?"))
        start = clock.now()
        for offset in (0, 25, 25 + 95):
            assert await worker.run_once(now=start + timedelta(seconds=offset)) == 1
        assert texts(stack) == [HOLDING, FAILURE]
        assert await worker.run_once(now=start + timedelta(hours=1)) == 0  # nothing left
        async with shop.container.sessions() as session:
            conn = await session.connection()
            inbound = (
                await conn.execute(select(MESSAGES).where(MESSAGES.c.direction == "in"))
            ).one()
            conversation = (await conn.execute(select(CONVERSATIONS))).one()
        assert inbound.status == "handled" and inbound.attempts == 3
        assert "503" in (inbound.error or "")
        assert conversation.attention is not None and "3 tries" in conversation.attention
        # The shopper writing again starts a fresh turn, which works once the model is back.
        stack.openai.script("It is on its way.")
        stack.update_id = 1
        assert await stack.say(shop, "hello?") == "It is on its way."


async def test_a_turn_that_times_out_is_tried_again(stack: Stack) -> None:
    stack.openai.script(Slow(8.0, "too late"), "Here I am.")
    async with stack.app() as shop:
        worker = shop.container.conversations
        worker.config = worker.config.model_copy(update={"turn_timeout": timedelta(seconds=3)})
        await shop.telegram_update(tg_text(1, "hi"))
        await worker.run_once()
        assert texts(stack) == [HOLDING]
        await worker.run_once(now=clock.now() + timedelta(seconds=25))
        assert texts(stack) == [HOLDING, "Here I am."]
        assert await user_messages_sent_to_model(stack) == ["hi"]
