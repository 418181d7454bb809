"""The agent as the conversation pipeline's ``ConversationHandler``: app wiring, so that
``agent/`` never imports the channels or the pipeline (DESIGN.md layers).

A turn either brings the shopper's words or a person's decision on something the graph paused
for (a discount above the approval threshold). While the graph waits for that decision, new
messages get a short holding answer rather than a second, contradicting conversation.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command, Durability

from agent.graph import Graph
from agent.planner_answers import unquote
from channels.messages import ProductCard
from conversations.handler import Reply, Turn

MAX_CARDS = 3
# One checkpoint write per turn (at its end or pause), not one per step. A crash mid-turn loses
# nothing: the shopper's messages stay pending in the inbox and the whole turn runs again.
DURABILITY: Durability = "exit"
AWAITING_APPROVAL = (
    "I've asked a colleague to approve that discount. I'll message you here as soon as they decide."
)
STILL_WAITING = (
    "I'm still waiting for a colleague to approve your discount. I'll message you here as soon "
    "as they decide."
)


class AgentHandler:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    async def handle(self, turn: Turn) -> list[Reply]:
        config: Any = {"configurable": {"thread_id": turn.conversation_id}}
        snapshot = await self.graph.aget_state(config)
        waiting = [i for i in snapshot.interrupts if isinstance(i.value, dict)]
        if turn.decision is not None:
            if not any(i.value.get("approval_id") == turn.decision.request_id for i in waiting):
                return []  # decided twice, or for a pause that is no longer there
            resume = turn.decision.model_dump(mode="json")
            state = await self.graph.ainvoke(
                Command(resume=resume), config=config, durability=DURABILITY
            )
        elif waiting:
            return [Reply(text=STILL_WAITING)]
        else:
            state = await self.graph.ainvoke(
                {
                    "messages": [HumanMessage(turn.text)],
                    "customer_id": turn.customer_id,
                    "channel": turn.channel.value,
                    "conversation_id": turn.conversation_id,
                    "address": turn.address,
                },
                config=config,
                durability=DURABILITY,
            )
        if state.get("__interrupt__"):
            return [Reply(text=AWAITING_APPROVAL)]
        return _reply(state["messages"], cards=turn.decision is None)


def _reply(messages: list[Any], *, cards: bool) -> list[Reply]:
    """This turn's final answer (after the last shopper message) with its product cards; a
    resumed turn's cards went out before it paused."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    this_turn = messages[start + 1 :]
    final = next((m for m in reversed(this_turn) if isinstance(m, AIMessage) and m.content), None)
    text = str(final.content) if final else ""
    return [Reply(text=text, cards=_cards(this_turn) if cards else [])] if text else []


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
