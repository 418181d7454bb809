"""The graph's state: the messages, the shopper the conversation belongs to, and what the
load-context step found for this turn.

``customer_id`` comes from identity resolution when the pipeline starts a turn. Tools read it
from here through ``InjectedState``; it is never part of a tool's schema, so the model cannot
set it.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    customer_id: str
    channel: str
    conversation_id: str
    address: NotRequired[str]
    # The pipeline's id for this turn, the same on every try: tools key their writes by it.
    turn_id: NotRequired[str]
    # Set by the load-context step at the start of every turn, from the current guardrails.
    enabled_tools: NotRequired[list[str]]
    # The shopper is outside ``agent.audience``: a person answers, not the agent.
    outside_audience: NotRequired[bool]
    shopper_context: NotRequired[str]
    # The shopper's profile summary (``ShopperFacts`` as JSON), read at the start of every turn.
    facts: NotRequired[dict[str, Any] | None]
    # What is on the table (``agent.conversation.Memory`` as JSON), kept across turns.
    memory: NotRequired[dict[str, Any]]
    # Older turns folded into a few lines (``agent.memory``), kept across turns.
    summary: NotRequired[str]
    # A side thread answering messages while a discount waits for approval (app.agent_handler).
    aside: NotRequired[bool]
