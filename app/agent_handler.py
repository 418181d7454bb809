"""The agent as the conversation pipeline's ``ConversationHandler``: app wiring, so that
``agent/`` never imports the channels or the pipeline (DESIGN.md layers)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph

from agent.planner import unquote
from channels.messages import ProductCard
from conversations.handler import Reply, Turn

MAX_CARDS = 3


class AgentHandler:
    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any]) -> None:
        self.graph = graph

    async def handle(self, turn: Turn) -> list[Reply]:
        state = await self.graph.ainvoke(
            {
                "messages": [HumanMessage(turn.text)],
                "customer_id": turn.customer_id,
                "channel": turn.channel.value,
                "conversation_id": turn.conversation_id,
            },
            config={"configurable": {"thread_id": turn.conversation_id}},
        )
        messages = state["messages"]
        start = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        this_turn = messages[start + 1 :]
        final = next(
            (m for m in reversed(this_turn) if isinstance(m, AIMessage) and m.content), None
        )
        text = str(final.content) if final else ""
        return [Reply(text=text, cards=_cards(this_turn))] if text else []


def _cards(messages: list[Any]) -> list[ProductCard]:
    """Product cards from this turn's searches, so channels can show images and links."""
    cards: list[ProductCard] = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.name == "search_products":
            for product in json.loads(str(message.content)).get("products", []):
                cards.append(
                    ProductCard(
                        id=product["id"],
                        name=unquote(product["name"]),
                        price=product["price"],
                        currency=product["currency"],
                        url=product.get("url"),
                        image_url=product.get("image_url"),
                    )
                )
    return cards[:MAX_CARDS]
