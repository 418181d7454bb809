"""The agent as the conversation pipeline's ``ConversationHandler``: app wiring, so that
``agent/`` never imports the channels or the pipeline (DESIGN.md layers).

A turn either brings the shopper's words, a person's decision on something the graph paused
for (a discount above the approval threshold), or a hand-back from a person who had taken the
conversation over: then what the shopper and the person said enters the thread and the bot says
it is back. While the graph waits for a decision, a new message (a digression: "where is my
order?") is answered on a side thread of the conversation, with a note that the discount is
still waiting, so the paused run keeps its place; the side thread joins the conversation's own
once the decision is in.

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

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, ToolMessage
from langgraph.types import Command, Durability, StateSnapshot

from agent.graph import Graph
from channels.messages import ProductCard
from conversations.handler import HandBack, Reply, Turn

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
ASIDE_NOTE = "(Your discount is still waiting for a colleague's approval: I'll message you here.)"
BACK = "I'm back! {who} handed you back to me."
BACK_QUOTE = ' They said: "{text}".'
BACK_END = " Anything else I can help with?"


def turn_message_id(turn_id: str) -> str:
    return f"turn:{turn_id}"


def aside_thread(conversation_id: str, approval_id: str) -> str:
    """The side thread for messages that come while an approval is pending."""
    return f"{conversation_id}:aside:{approval_id}"


class AgentHandler:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    async def handle(self, turn: Turn) -> list[Reply]:
        config: Any = {"configurable": {"thread_id": turn.conversation_id}}
        snapshot = await self.graph.aget_state(config)
        messages: list[AnyMessage] = list(snapshot.values.get("messages", []))
        waiting = [i for i in snapshot.interrupts if isinstance(i.value, dict)]
        if turn.handback is not None:
            return await self._hand_back(turn, turn.handback, config, bool(snapshot.next))
        unfinished = bool(snapshot.next) and not waiting
        if turn.decision is not None:
            if any(i.value.get("approval_id") == turn.decision.request_id for i in waiting):
                resume: Any = Command(resume=turn.decision.model_dump(mode="json"))
            elif unfinished:
                resume = None  # the resumed run failed after the decision: finish it
            else:
                return []  # decided twice, or for a pause that is no longer there
            state = await self.graph.ainvoke(resume, config=config, durability=DURABILITY)
            if not state.get("__interrupt__"):
                await self._merge_aside(config, turn.conversation_id, turn.decision.request_id)
            return self._answer(state, cards=False)
        if waiting:
            position = _position(messages, turn_message_id(turn.turn_id) if turn.turn_id else None)
            if position is not None and not _later_human(messages, position):
                return [Reply(text=AWAITING_APPROVAL)]  # the turn that paused, tried again
            return await self._aside(turn, messages, str(waiting[0].value.get("approval_id")))
        return await self._shopper_turn(turn, config, snapshot)

    async def _aside(self, turn: Turn, messages: list[AnyMessage], approval_id: str) -> list[Reply]:
        """A message while a discount waits for a person is answered all the same (a
        digression), on a side thread of the conversation so the paused run keeps its place;
        another discount is not on offer meanwhile. The side thread joins the conversation's
        own when the decision comes."""
        config: Any = {
            "configurable": {"thread_id": aside_thread(turn.conversation_id, approval_id)}
        }
        snapshot = await self.graph.aget_state(config)
        seed = [] if snapshot.values.get("messages") else _complete(messages)
        replies = await self._shopper_turn(turn, config, snapshot, seed=seed, aside=True)
        if not replies:
            return [Reply(text=STILL_WAITING)]
        return [r.model_copy(update={"text": f"{r.text}\n\n{ASIDE_NOTE}"}) for r in replies]

    async def _merge_aside(self, config: Any, conversation_id: str, approval_id: str) -> None:
        aside: Any = {"configurable": {"thread_id": aside_thread(conversation_id, approval_id)}}
        side = (await self.graph.aget_state(aside)).values.get("messages", [])
        if not side:
            return
        main = (await self.graph.aget_state(config)).values.get("messages", [])
        known = {m.id for m in main}
        extra = [m for m in side if m.id not in known]
        if extra:
            await self.graph.aupdate_state(config, {"messages": extra}, as_node="remember")

    async def _shopper_turn(
        self,
        turn: Turn,
        config: Any,
        snapshot: StateSnapshot,
        *,
        seed: Sequence[AnyMessage] = (),
        aside: bool = False,
    ) -> list[Reply]:
        messages: list[AnyMessage] = list(snapshot.values.get("messages", []))
        waiting = [i for i in snapshot.interrupts if isinstance(i.value, dict)]
        unfinished = bool(snapshot.next) and not waiting
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
                    *seed,
                    *(note for note in thread_notes(turn) if note.id not in known),
                    HumanMessage(turn.text, id=human_id),
                ],
                "customer_id": turn.customer_id,
                "channel": turn.channel.value,
                "conversation_id": turn.conversation_id,
                "turn_id": turn.turn_id,
                "address": turn.address,
                "aside": aside,
            },
            config=config,
            durability=DURABILITY,
        )
        return self._answer(state, cards=True)

    async def _hand_back(
        self, turn: Turn, handback: HandBack, config: Any, busy: bool
    ) -> list[Reply]:
        """The person's side of the conversation into the thread (as a colleague's messages),
        then "I'm back". Ids come from the turn, so a retried hand-back adds nothing twice."""
        authors = [line.author for line in handback.transcript if line.role == "person"]
        said = [line.text for line in handback.transcript if line.role == "person"]
        who = next((a for a in reversed(authors) if a), None) or "My colleague"
        text = BACK.format(who=who)
        if said:
            text += BACK_QUOTE.format(text=said[-1][:200])
        text += BACK_END
        prefix = f"handback:{turn.turn_id}"
        lines: list[AnyMessage] = [
            HumanMessage(line.text, id=f"{prefix}:{i}")
            if line.role == "shopper"
            else AIMessage(
                line.text,
                id=f"{prefix}:{i}",
                name="colleague",
                response_metadata={"author": line.author},
            )
            for i, line in enumerate(handback.transcript)
        ]
        back = AIMessage(text, id=f"{prefix}:back")
        if not busy:  # a paused run (an approval) keeps its place; the shopper still hears it
            await self.graph.aupdate_state(config, {"messages": [*lines, back]}, as_node="remember")
        return [Reply(text=text)]

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


def _complete(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The thread up to a tool call still waiting for its result (the paused one)."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    for index, message in enumerate(messages):
        if isinstance(message, AIMessage) and any(
            c["id"] not in answered for c in message.tool_calls
        ):
            return list(messages[:index])
    return list(messages)


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
    """The product cards of this turn, as the reply guard passed them (on the final reply), so
    channels can show images and links."""
    final = next((m for m in reversed(messages) if isinstance(m, AIMessage) and m.content), None)
    stored = final.additional_kwargs.get("cards") if final is not None else None
    if not isinstance(stored, list):
        return []
    return [ProductCard.model_validate(card) for card in stored][:MAX_CARDS]
