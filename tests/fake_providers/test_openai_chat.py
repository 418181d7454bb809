"""The scripted chat completions of the fake OpenAI API, through the real clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall
from pydantic import SecretStr

from tests.fake_providers.openai_api import FakeOpenAiApi, ToolCall
from tests.fake_providers.server import serve

API_KEY = "sk-test"
MODEL = "gpt-4o-mini"


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


@dataclass
class Served:
    api: FakeOpenAiApi
    base_url: str

    def client(self, api_key: str = API_KEY) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key)

    def chat_model(self, **kwargs: Any) -> ChatOpenAI:
        return ChatOpenAI(base_url=self.base_url, api_key=SecretStr(API_KEY), model=MODEL, **kwargs)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    api = FakeOpenAiApi(api_key=API_KEY)
    async with serve(api.app) as url:
        yield Served(api, f"{url}/v1")


async def test_openai_client_gets_text_and_tool_calls(served: Served) -> None:
    served.api.script(
        "Hello there!",
        [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Oslo"})],
    )
    messages: Any = [{"role": "user", "content": "hi"}]
    text = await served.client().chat.completions.create(model=MODEL, messages=messages)
    calls = await served.client().chat.completions.create(model=MODEL, messages=messages)

    assert text.object == "chat.completion"
    assert text.model == MODEL
    assert text.choices[0].finish_reason == "stop"
    assert text.choices[0].message.content == "Hello there!"
    assert text.usage is not None and text.usage.total_tokens > 0
    assert calls.choices[0].finish_reason == "tool_calls"
    assert calls.choices[0].message.content is None
    tool_calls = calls.choices[0].message.tool_calls or []
    function_calls = [c for c in tool_calls if isinstance(c, ChatCompletionMessageFunctionToolCall)]
    assert len(function_calls) == len(tool_calls)
    assert [c.id for c in tool_calls] == ["call_1", "call_2"]
    assert [(c.function.name, json.loads(c.function.arguments)) for c in function_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert served.api.chat_requests == [{"model": MODEL, "messages": messages}] * 2
    assert served.api.pending_steps == 0


async def test_openai_client_streams_chunks_and_usage(served: Served) -> None:
    served.api.script("One two three four five six", ToolCall("get_weather", {"city": "Lisbon"}))
    messages: Any = [{"role": "user", "content": "hi"}]

    stream = await served.client().chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    contents = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(contents) > 1
    assert "".join(contents) == "One two three four five six"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6

    stream = await served.client().chat.completions.create(
        model=MODEL, messages=messages, stream=True
    )
    chunks = [chunk async for chunk in stream]
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == "call_1" and deltas[0].type == "function"
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    assert deltas[0].function.arguments == ""
    fragments = [d.function.arguments for d in deltas[1:] if d.function]
    assert len(fragments) > 1 and all(d.id is None for d in deltas[1:])
    assert json.loads("".join(f or "" for f in fragments)) == {"city": "Lisbon"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert all(chunk.usage is None for chunk in chunks)


async def test_wrong_key_is_refused_and_an_exhausted_script_fails_loudly(
    served: Served,
) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError):
        await served.client(api_key="sk-wrong").chat.completions.create(
            model=MODEL, messages=messages
        )
    assert served.api.chat_requests == []

    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        await served.client().chat.completions.create(model=MODEL, messages=messages)
    assert len(served.api.chat_requests) == 1  # not retried


async def test_a_step_can_answer_from_the_request(served: Served) -> None:
    def echo_system_prompt(body: dict[str, Any]) -> str:
        return str(body["messages"][0]["content"])

    def summarise_tool_result(body: dict[str, Any]) -> str:
        last = body["messages"][-1]
        assert last["role"] == "tool"
        return f"The tool said: {last['content']}"

    served.api.script(
        echo_system_prompt, ToolCall("get_weather", {"city": "Rome"}), summarise_tool_result
    )
    model = served.chat_model().bind_tools([get_weather])

    history: list[Any] = [SystemMessage("You sell tents."), HumanMessage("Weather in Rome?")]
    assert (await model.ainvoke(history)).content == "You sell tents."
    call = await model.ainvoke(history)
    assert isinstance(call, AIMessage)
    history += [call, ToolMessage("sunny in Rome", tool_call_id=call.tool_calls[0]["id"])]
    reply = await model.ainvoke(history)

    assert reply.content == "The tool said: sunny in Rome"
    sent = served.api.chat_requests[-1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[-1] == {"role": "tool", "content": "sunny in Rome", "tool_call_id": "call_1"}


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streaming"])
async def test_langchain_chat_openai_with_tools(served: Served, streaming: bool) -> None:
    served.api.script(
        [ToolCall("get_weather", {"city": "Paris", "unit": "fahrenheit"}), ToolCall("get_weather")],
        "It is sunny in Paris.",
    )
    model = served.chat_model(streaming=streaming).bind_tools([get_weather])

    call = await model.ainvoke("Weather in Paris?")
    text = await model.ainvoke("Thanks")

    assert isinstance(call, AIMessage)
    assert [(c["name"], c["args"], c["id"]) for c in call.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "fahrenheit"}, "call_1"),
        ("get_weather", {}, "call_2"),
    ]
    assert call.invalid_tool_calls == []
    assert text.content == "It is sunny in Paris."
    assert isinstance(text, AIMessage) and text.tool_calls == []
    request = served.api.chat_requests[0]
    assert request["model"] == MODEL
    assert bool(request.get("stream")) is streaming
    [schema] = request["tools"]
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "get_weather"
    assert schema["function"]["parameters"]["required"] == ["city"]
    assert request["messages"] == [{"role": "user", "content": "Weather in Paris?"}]
