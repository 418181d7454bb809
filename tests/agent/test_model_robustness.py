"""What real models send, through the real ``openai`` client and the scripted stub, streaming and
not: tool arguments that are not JSON, a tool that does not exist, a tool called in a loop, an
empty reply, a refusal. Each turn ends with an answer the shopper can read, never a failure."""

from __future__ import annotations

from typing import Any

from agent.graph import EMPTY_REPLY, MAX_TOOL_ROUNDS, REFUSAL_REPLY, STEP_LIMIT_REPLY
from tests.agent.test_openai_agent import BOOT, Stack, stack
from tests.fake_providers.openai_api import RawToolCall, Refusal, ToolCall

__all__ = ["stack"]


def last_tool_text(body: dict[str, Any]) -> str:
    return str(next(m for m in reversed(body["messages"]) if m["role"] == "tool")["content"])


async def test_arguments_that_are_not_json_come_back_as_an_error_to_correct(stack: Stack) -> None:
    # Sent whole, the cut-off JSON is refused by the client and comes back as our error;
    # streamed, the client completes it itself and the tool refuses the number it got for
    # ``size``. Either way the model hears what went wrong and tries again.
    errors: list[str] = []

    def retry(body: dict[str, Any]) -> ToolCall:
        errors.append(last_tool_text(body))
        return ToolCall("search_products", {"text": "hiking boots"})

    stack.openai.script(
        RawToolCall("search_products", '{"text": "hiking boots", "size": 42'),
        retry,
        lambda body: f"Found: {last_tool_text(body)[:40]}",
    )
    async with stack.app() as shop:
        await (await shop.container.catalog()).upsert([BOOT])
        reply = await stack.say(shop, "hiking boots please")
    assert reply.startswith("Found: ") and "Ridge Hiking Boot" in reply, reply
    expected = "Error invoking tool" if stack.settings.openai_streaming else "not valid JSON"
    assert expected in errors[0]
    # The broken call and its answer went back to the model as a matching pair.
    second = stack.openai.chat_requests[1]["messages"]
    assistant = next(m for m in second if m["role"] == "assistant")
    tool = next(m for m in second if m["role"] == "tool")
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]


async def test_an_unknown_tool_gets_an_error_and_the_turn_goes_on(stack: Stack) -> None:
    stack.openai.script(
        ToolCall("teleport_shopper", {"to": "mars"}),
        lambda body: f"Tool said: {last_tool_text(body)[:60]}",
    )
    async with stack.app() as shop:
        reply = await stack.say(shop, "take me to mars")
    assert "not a valid tool" in reply


async def test_a_tool_called_in_a_loop_stops_at_the_step_limit(stack: Stack) -> None:
    stack.openai.script(*[ToolCall("get_profile") for _ in range(MAX_TOOL_ROUNDS + 3)])
    async with stack.app() as shop:
        reply = await stack.say(shop, "who am I?")
        assert reply == STEP_LIMIT_REPLY
        assert len(stack.openai.chat_requests) == MAX_TOOL_ROUNDS + 1
        # The thread is still well formed: the next turn goes to the model normally.
        stack.openai.script("Hello again.")
        assert await stack.say(shop, "hi") == "Hello again."


async def test_an_empty_reply_and_a_refusal_become_honest_answers(stack: Stack) -> None:
    stack.openai.script("", Refusal("I can't assist with that request."))
    async with stack.app() as shop:
        assert await stack.say(shop, "hello") == EMPTY_REPLY
        refused = await stack.say(shop, "tell me something")
    # langchain-openai drops a streamed refusal's words: then it is an empty reply.
    assert refused == (EMPTY_REPLY if stack.settings.openai_streaming else REFUSAL_REPLY)
