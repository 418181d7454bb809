"""The agent as the conversation pipeline's ``ConversationHandler``: app wiring, so that
``agent/`` never imports the channels or the pipeline (DESIGN.md layers).

A turn either brings the shopper's words or a person's decision on something the graph paused
for (a discount above the approval threshold). While the graph waits for that decision, new
messages get a short holding answer rather than a second, contradicting conversation.

Turns are idempotent by ``turn_id``. The shopper's message enters the thread under an id made
from it, so a turn that is tried again never adds it twice:

- a try that finished (the worker died before committing its answer) answers from the thread
  again, without running anything;
- a try that failed midway (a model timeout) resumes from the failed step: the tools it already
  ran are not run again;
- a try whose turn has grown (the shopper wrote again during the backoff) is started over, with
  the first try's unfinished steps taken out of the thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, ToolMessage
from langgraph.types import Command, Durability, StateSnapshot

from agent.graph import Graph
from agent.planner_answers import unquote
from channels.messages import ProductCard
from conversations.handler import Reply, Turn

MAX_CARDS = 3
# One checkpoint write per turn (at its end, pause or failure), not one per step. A crash
# mid-turn loses nothing: the shopper's messages stay pending in the inbox and the turn runs
# again.
DURABILITY: Durability = "exit"
AWAITING_APPROVAL = (
    "I've asked a colleague to approve that discount. I'll message you here as soon as they decide."
)
STILL_WAITING = (
    "I'm still waiting for a colleague to approve your discount. I'll message you here as soon "
    "as they decide."
)


def turn_message_id(turn_id: str) -> str:
    return f"turn:{turn_id}"


class AgentHandler:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    async def handle(self, turn: Turn) -> list[Reply]:
        config: Any = {"configurable": {"thread_id": turn.conversation_id}}
        snapshot = await self.graph.aget_state(config)
        messages: list[AnyMessage] = list(snapshot.values.get("messages", []))
        waiting = [i for i in snapshot.interrupts if isinstance(i.value, dict)]
        unfinished = bool(snapshot.next) and not waiting
        if turn.decision is not None:
            if any(i.value.get("approval_id") == turn.decision.request_id for i in waiting):
                resume: Any = Command(resume=turn.decision.model_dump(mode="json"))
            elif unfinished:
                resume = None  # the resumed run failed after the decision: finish it
            else:
                return []  # decided twice, or for a pause that is no longer there
            state = await self.graph.ainvoke(resume, config=config, durability=DURABILITY)
            return self._answer(state, cards=False)

        human_id = turn_message_id(turn.turn_id) if turn.turn_id else None
        position = _position(messages, human_id)
        if position is not None:
            same_words = messages[position].content == turn.text
            finished = _later_human(messages, position) or not snapshot.next
            if finished and same_words:
                return _reply(_segment(messages, position), cards=True)
            if waiting and not _later_human(messages, position):
                return [Reply(text=AWAITING_APPROVAL)]
            if unfinished and same_words:
                state = await self.graph.ainvoke(None, config=config, durability=DURABILITY)
                return self._answer(state, cards=True)
        if waiting:
            return [Reply(text=STILL_WAITING)]
        stale = _unfinished_steps(messages, snapshot)
        known = {m.id for m in messages}
        state = await self.graph.ainvoke(
            {
                "messages": [
                    *(RemoveMessage(id=m.id) for m in stale if m.id),
                    *(note for note in thread_notes(turn) if note.id not in known),
                    HumanMessage(turn.text, id=human_id),
                ],
                "customer_id": turn.customer_id,
                "channel": turn.channel.value,
                "conversation_id": turn.conversation_id,
                "turn_id": turn.turn_id,
                "address": turn.address,
            },
            config=config,
            durability=DURABILITY,
        )
        return self._answer(state, cards=True)

    @staticmethod
    def _answer(state: dict[str, Any], *, cards: bool) -> list[Reply]:
        if state.get("__interrupt__"):
            return [Reply(text=AWAITING_APPROVAL)]
        messages = state["messages"]
        start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        return _reply(messages[start + 1 :], cards=cards)


def thread_notes(turn: Turn) -> list[AIMessage]:
    """What was said since the last answer other than by the bot (an automated message, a
    person's reply), as the assistant's messages marked with their origin, so the model, the
    offline planner and the reply guard see what the shopper is answering."""
    return [
        AIMessage(
            content=note.text,
            id=f"note:{note.id}",
            response_metadata={"origin": note.origin},
        )
        for note in turn.notes
    ]


def _position(messages: Sequence[AnyMessage], human_id: str | None) -> int | None:
    if human_id is None:
        return None
    return next((i for i, m in enumerate(messages) if m.id == human_id), None)


def _later_human(messages: Sequence[AnyMessage], position: int) -> bool:
    return any(isinstance(m, HumanMessage) for m in messages[position + 1 :])


def _segment(messages: Sequence[AnyMessage], position: int) -> list[AnyMessage]:
    """What the graph said after the human message at ``position``, up to the next one."""
    segment: list[AnyMessage] = []
    for message in messages[position + 1 :]:
        if isinstance(message, HumanMessage):
            break
        segment.append(message)
    return segment


def _unfinished_steps(messages: Sequence[AnyMessage], snapshot: StateSnapshot) -> list[AnyMessage]:
    """A run that failed midway leaves steps after its shopper message (a tool call with no
    answer, which a model endpoint would refuse); a fresh run takes them out. The shopper
    message stays, or is replaced when it has the same id."""
    if not snapshot.next or snapshot.interrupts:
        return []
    last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return list(messages[last + 1 :])


def _reply(messages: Sequence[AnyMessage], *, cards: bool) -> list[Reply]:
    """A turn's final answer with its product cards; a resumed turn's cards went out before it
    paused."""
    final = next((m for m in reversed(messages) if isinstance(m, AIMessage) and m.content), None)
    text = str(final.content) if final else ""
    return [Reply(text=text, cards=_cards(messages) if cards else [])] if text else []


def _cards(messages: Sequence[AnyMessage]) -> list[ProductCard]:
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
