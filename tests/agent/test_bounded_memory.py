"""Bounded memory: over a 60-turn conversation with a tool call every turn, the prompt the model
gets (counted on the wire, by the OpenAI-compatible stub) stops growing, old tool results go as
digests, and the checkpointed thread is pruned into a running summary."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver

from agent.graph import build_graph
from agent.memory import window
from policy.guardrails import Guardrails
from tests.fake_providers.openai_api import FakeOpenAiApi, ToolCall, _count_tokens
from tests.fake_providers.server import serve

TURNS = 60
DESCRIPTION = "Waterproof leather upper, grippy sole, padded collar, made to last. " * 6


@tool
async def search_products(text: str) -> str:
    """Find products."""
    products = [
        {
            "id": f"boot-{i}",
            "name": f'"Boot {i}"',
            "price": 90.0 + i,
            "currency": "USD",
            "description": DESCRIPTION,
        }
        for i in range(3)
    ]
    return json.dumps({"products": products, "query": text})


async def test_prompt_tokens_per_turn_stay_flat_over_sixty_turns() -> None:
    openai = FakeOpenAiApi(api_key="sk-memory")
    async with serve(openai.app) as url:
        model = ChatOpenAI(
            model="stub",
            api_key="sk-memory",
            base_url=f"{url}/v1",
            max_retries=0,
        )
        graph = build_graph(model, [search_products], Guardrails, InMemorySaver())
        config: Any = {"configurable": {"thread_id": "long"}}
        first_requests: list[int] = []
        for turn in range(TURNS):
            openai.script(
                ToolCall("search_products", {"text": f"hiking boots {turn}"}),
                f"Turn {turn}: here are three boots that fit what you asked for. " * 3,
            )
            first_requests.append(len(openai.chat_requests))
            await graph.ainvoke(
                {
                    "messages": [
                        HumanMessage(f"Turn {turn}: I'd like hiking boots in size 42, waterproof.")
                    ],
                    "customer_id": "cus_x",
                    "channel": "telegram",
                    "conversation_id": "cnv_x",
                },
                config,
            )
        tokens = [_count_tokens(openai.chat_requests[i]["messages"]) for i in first_requests]
        state = (await graph.aget_state(config)).values
    print("prompt tokens per turn:", tokens)
    assert tokens[-1] <= tokens[15] * 1.1, tokens  # flat, not growing with the turns
    assert max(tokens[15:]) - min(tokens[15:]) <= tokens[15] * 0.15, tokens
    assert tokens[-1] < tokens[0] + 2000
    # The thread itself is bounded: old turns live on as a summary, not as messages.
    assert len(state["messages"]) < 60
    assert "shopper:" in state["summary"] and "Turn 3" not in str(state["messages"])
    sent = window(state["messages"])
    older_results = [m for m in sent[:-3] if getattr(m, "name", None) == "search_products"]
    assert older_results and all("(earlier search)" in str(m.content) for m in older_results)
