"""The agent graph: load context → model ↔ tools → reply guard → reply.

An explicit ``StateGraph`` (``create_react_agent`` is deprecated in LangGraph 1.2), one thread
per conversation, so what the shopper said earlier is in the state of the next turn. The
guardrails are read at the start of every turn, so a marketer's change applies to the next turn
without a restart; switched-off tools are neither shown to the model nor run if it names them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from agent.prompt import system_prompt
from agent.reply_guard import GrantedOffer, GuardInput, guard_reply
from agent.state import AgentState
from policy.guardrails import Guardrails
from profile_store import clock

log = structlog.get_logger(__name__)
Graph = CompiledStateGraph[Any, Any, Any, Any]


def build_graph(
    model: BaseChatModel,
    tools: list[BaseTool],
    rules: Callable[[], Guardrails],
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> Graph:
    by_name = {t.name: t for t in tools}
    bound: dict[frozenset[str], Runnable[Any, Any]] = {}
    tool_nodes: dict[frozenset[str], ToolNode] = {}

    def enabled(state: AgentState) -> frozenset[str]:
        return frozenset(state.get("enabled_tools", [])) & frozenset(by_name)

    async def load_context(state: AgentState) -> dict[str, Any]:
        now = clock.now()
        names = sorted(rules().agent.tools.enabled() & by_name.keys())
        context = f"channel {state['channel']}; current time {now:%Y-%m-%d %H:%M} UTC ({now:%A})."
        return {"enabled_tools": names, "shopper_context": context}

    async def call_model(state: AgentState) -> dict[str, Any]:
        names = enabled(state)
        if names not in bound:
            chosen = [by_name[n] for n in sorted(names)]
            bound[names] = model.bind_tools(chosen) if chosen else model
        prompt = system_prompt(rules().agent, state.get("shopper_context", ""))
        reply = await bound[names].ainvoke([SystemMessage(prompt), *state["messages"]])
        return {"messages": [reply]}

    async def run_tools(state: AgentState, config: RunnableConfig) -> Any:
        names = enabled(state)
        if names not in tool_nodes:
            # A tool the model names but that is switched off gets ToolNode's "not a valid
            # tool" error message back, never a call.
            tool_nodes[names] = ToolNode([by_name[n] for n in sorted(names)])
        return await tool_nodes[names].ainvoke(state, config)

    async def guard(state: AgentState) -> dict[str, Any]:
        messages = state["messages"]
        last = messages[-1]
        if not isinstance(last, AIMessage) or not isinstance(last.content, str):
            return {}
        prompt = system_prompt(rules().agent, state.get("shopper_context", ""))
        result = guard_reply(
            GuardInput(
                reply=last.content,
                shopper_text=_last_human_text(messages),
                system_prompt=prompt,
                config=rules().agent,
                granted=granted_offers(messages),
                own_addresses=frozenset(a for a in [state.get("address")] if a),
            )
        )
        if not result.violations:
            return {}
        log.warning(
            "agent.reply_guarded",
            conversation_id=state["conversation_id"],
            violations=result.violations,
        )
        replaced = AIMessage(
            content=result.text,
            id=last.id,
            response_metadata={**last.response_metadata, "guard": result.violations},
        )
        return {"messages": [replaced]}

    def after_model(state: AgentState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            return "tools"
        return "guard"

    graph = StateGraph(AgentState)
    graph.add_node("load_context", load_context)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tools)
    graph.add_node("guard", guard)
    graph.add_edge(START, "load_context")
    graph.add_edge("load_context", "model")
    graph.add_conditional_edges("model", after_model, ["tools", "guard"])
    graph.add_edge("tools", "model")
    graph.add_edge("guard", END)
    return graph.compile(checkpointer=checkpointer)


def granted_offers(messages: Sequence[AnyMessage]) -> list[GrantedOffer]:
    """Every discount the offer tool granted in this conversation."""
    offers = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.name == "offer_discount":
            try:
                data = json.loads(str(message.content))
            except ValueError:
                continue
            if data.get("status") == "granted" and data.get("code"):
                offers.append(GrantedOffer(percent=float(data["percent"]), code=data["code"]))
    return offers


def _last_human_text(messages: Sequence[AnyMessage]) -> str:
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return str(human.content) if human else ""
