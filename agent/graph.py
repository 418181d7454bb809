"""The agent graph: load context → model ↔ tools → reply guard → remember → reply.

An explicit ``StateGraph`` (``create_react_agent`` is deprecated in LangGraph 1.2), one thread
per conversation. Every turn starts by reading the current guardrails (a marketer's change
applies to the next turn without a restart; switched-off tools are neither shown to the model
nor run if it names them), the shopper's profile summary and the conversation memory (what was
shown, selected, filtered, asked: ``agent.conversation``), and by folding old turns into a
running summary (``agent.memory``), so the prompt stays the same size however long the
conversation gets.

What real models send is survived, not trusted: tool arguments that are not JSON get an error
back to correct, unknown tools get ToolNode's error, a tool loop ends at ``MAX_TOOL_ROUNDS``
with an apology, an empty reply or a refusal becomes a short honest answer. The guard checks the
text and the product cards (``agent.reply_guard``).
"""

from __future__ import annotations

import asyncio
import json
import re
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

from agent import memory as thread_memory
from agent.conversation import (
    META_KEY,
    Memory,
    Pending,
    granted_offers,
    refresh_shown,
    reply_metadata,
    unquote,
)
from agent.language import detect
from agent.prompt import system_prompt
from agent.references import resolve
from agent.reply_guard import GrantedOffer, GuardInput, clean_catalog_text, guard_reply
from agent.shopper_context import ShopperContext
from agent.state import AgentState
from policy.guardrails import Guardrails
from profile_store import clock
from tools.agent_tools.profile import ShopperFacts

log = structlog.get_logger(__name__)
Graph = CompiledStateGraph[Any, Any, Any, Any]
MAX_TOOL_ROUNDS = 5
MAX_CARDS = 3
STEP_LIMIT_REPLY = (
    "Sorry, I couldn't finish that. Could you ask it another way, or shall I ask a colleague?"
)
EMPTY_REPLY = "Sorry, I lost my train of thought. Could you say that again?"
REFUSAL_REPLY = "I can't help with that one, but I'm happy to help with products, orders or offers."
BAD_ARGUMENTS = (
    "error: the arguments of {name} were not valid JSON ({error}); call it again with a JSON "
    "object of its parameters"
)
OFFERS_A_PERSON = re.compile(
    r"\b(colleague|human|real person|someone from (our|the) team|team member|person)\b[^.!?]*\?",
    re.I,
)


def build_graph(
    model: BaseChatModel,
    tools: list[BaseTool],
    rules: Callable[[], Guardrails],
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    shoppers: ShopperContext | None = None,
) -> Graph:
    by_name = {t.name: t for t in tools}
    bound: dict[frozenset[str], Runnable[Any, Any]] = {}
    tool_nodes: dict[frozenset[str], ToolNode] = {}

    def enabled(state: AgentState) -> frozenset[str]:
        return frozenset(state.get("enabled_tools", [])) & frozenset(by_name)

    async def load_context(state: AgentState) -> dict[str, Any]:
        now = clock.now()
        current = rules()
        names = sorted(current.agent.tools.enabled() & by_name.keys())
        members = await _audiences(state, current, now)
        names = [n for n in names if _tool_audience(current, n) in members | {None}]
        outside = current.agent.audience is not None and current.agent.audience not in members
        if state.get("aside"):  # while a discount waits for approval, no second one
            names = [n for n in names if n != "offer_discount"]
        context = f"channel {state['channel']}; current time {now:%Y-%m-%d %H:%M} UTC ({now:%A})."
        messages = state["messages"]
        remembered = refresh_shown(Memory.of(dict(state)), messages)
        text = _last_human_text(messages)
        reference = resolve(text, remembered)
        if reference.product is not None:
            remembered = remembered.model_copy(update={"selected": reference.product.id})
        facts = await _facts(state, text, now)
        removals, summary = thread_memory.prune(messages, state.get("summary", ""))
        update: dict[str, Any] = {
            "enabled_tools": names,
            "outside_audience": outside,
            "shopper_context": context,
            "memory": remembered.model_dump(mode="json"),
            "facts": facts.model_dump(mode="json") if facts else None,
            "summary": summary,
        }
        if removals:
            update["messages"] = removals
        return update

    async def _audiences(state: AgentState, current: Guardrails, now: Any) -> frozenset[str]:
        """Which audiences the shopper is in, read only when the agent or a tool names one."""
        named = {current.agent.audience} | {
            _tool_audience(current, n) for n in current.agent.tools.enabled()
        }
        wanted = {n: current.audiences[n].rule for n in named if n is not None}
        if not wanted or shoppers is None:
            return frozenset()
        return await shoppers.audiences(state["customer_id"], wanted, now)

    async def for_a_person(state: AgentState) -> dict[str, Any]:
        """Outside ``agent.audience``: a colleague answers; the shopper is told so once."""
        current = rules()
        if shoppers is not None:
            await shoppers.hand_to_person(
                state["customer_id"],
                state["channel"],
                state["conversation_id"],
                f"outside the agent's audience {current.agent.audience!r}",
                clock.now(),
            )
        return {"messages": [AIMessage(content=current.agent.outside_audience_reply)]}

    def after_context(state: AgentState) -> str:
        return "for_a_person" if state.get("outside_audience") else "model"

    async def _facts(state: AgentState, text: str, now: Any) -> ShopperFacts | None:
        if shoppers is None:
            return None
        try:
            facts = await shoppers.facts(state["customer_id"], state["channel"])
        except Exception:  # a turn answers without the summary rather than not at all
            log.warning("agent.facts_failed", conversation_id=state["conversation_id"])
            return None
        language = await asyncio.to_thread(detect, text) if text else None
        if facts is not None and language and language != (facts.locale or "").split("-")[0]:
            await shoppers.store_locale(state["customer_id"], language, now)
            facts = facts.model_copy(update={"locale": language})
        return facts

    def prompt_for(state: AgentState) -> SystemMessage:
        remembered = Memory.of(dict(state))
        facts_data = state.get("facts")
        facts = ShopperFacts.model_validate(facts_data) if facts_data else None
        text = system_prompt(
            rules().agent,
            state.get("shopper_context", ""),
            facts=facts,
            memory=remembered,
            summary=state.get("summary", ""),
        )
        payload = {"memory": remembered.model_dump(mode="json"), "facts": facts_data}
        return SystemMessage(text, additional_kwargs={META_KEY: payload})

    async def call_model(state: AgentState) -> dict[str, Any]:
        names = enabled(state)
        if names not in bound:
            chosen = [by_name[n] for n in sorted(names)]
            bound[names] = model.bind_tools(chosen) if chosen else model
        sent = thread_memory.window(state["messages"])
        reply = await bound[names].ainvoke([prompt_for(state), *sent])
        if (
            isinstance(reply, AIMessage)
            and reply.tool_calls
            and _tool_rounds(state["messages"]) >= MAX_TOOL_ROUNDS
        ):
            log.warning("agent.step_limit", conversation_id=state["conversation_id"])
            reply = AIMessage(content=STEP_LIMIT_REPLY, id=reply.id)
        return {"messages": [reply]}

    async def run_tools(state: AgentState, config: RunnableConfig) -> Any:
        names = enabled(state)
        last = state["messages"][-1]
        errors = [
            ToolMessage(
                content=BAD_ARGUMENTS.format(name=call.get("name"), error=call.get("error")),
                tool_call_id=call["id"],
                name=call.get("name") or "unknown",
                status="error",
            )
            for call in (last.invalid_tool_calls if isinstance(last, AIMessage) else [])
            if call.get("id")
        ]
        if not (isinstance(last, AIMessage) and last.tool_calls):
            return {"messages": errors}
        if names not in tool_nodes:
            # A tool the model names but that is switched off gets ToolNode's "not a valid
            # tool" error message back, never a call.
            tool_nodes[names] = ToolNode([by_name[n] for n in sorted(names)])
        result = await tool_nodes[names].ainvoke(state, config)
        if errors and isinstance(result, dict):
            result = {**result, "messages": [*result.get("messages", []), *errors]}
        return result

    async def guard(state: AgentState) -> dict[str, Any]:
        messages = state["messages"]
        last = messages[-1]
        if not isinstance(last, AIMessage):
            return {}
        reply, problem = _reply_text(last)
        config = rules().agent
        prompt = system_prompt(config, state.get("shopper_context", ""))
        granted = [GrantedOffer(**o) for o in granted_offers(messages)] + [
            GrantedOffer(**o) for o in Memory.of(dict(state)).granted
        ]
        own = frozenset(a for a in [state.get("address")] if a)
        turn = _this_turn(messages)
        hits = _search_hits(turn)
        result = guard_reply(
            GuardInput(
                reply=reply,
                shopper_text=_last_human_text(messages),
                system_prompt=prompt,
                config=config,
                granted=granted,
                own_addresses=own,
                catalog_text=[unquote(str(h.get("name", ""))) for h in hits],
            )
        )
        violations = ([problem] if problem else []) + result.violations
        cards = _cards(hits, granted, own)
        if violations:
            log.warning(
                "agent.reply_guarded",
                conversation_id=state["conversation_id"],
                violations=violations,
            )
        replaced = AIMessage(
            content=result.text,
            id=last.id,
            additional_kwargs={**last.additional_kwargs, "cards": cards},
            response_metadata={**last.response_metadata, "guard": violations},
        )
        return {"messages": [replaced]}

    async def remember(state: AgentState) -> dict[str, Any]:
        messages = state["messages"]
        remembered = refresh_shown(Memory.of(dict(state)), messages)
        last = messages[-1]
        meta = reply_metadata(last)
        pending = meta.get("pending") if META_KEY in last.additional_kwargs else None
        update: dict[str, Any] = {"pending": None}
        if isinstance(pending, dict):
            update["pending"] = Pending.model_validate(pending)
        elif isinstance(last, AIMessage) and OFFERS_A_PERSON.search(str(last.content)):
            update["pending"] = Pending(kind="handoff", reason=_last_human_text(messages)[:300])
        if selected := meta.get("selected"):
            update["selected"] = selected
        calls = [c for m in _this_turn(messages) if isinstance(m, AIMessage) for c in m.tool_calls]
        for call in calls:
            ids = call["args"].get("product_ids") or []
            if ids and call["name"] in ("offer_discount", "schedule_follow_up"):
                update["selected"] = str(ids[0])
        granted = [*remembered.granted, *granted_offers(_this_turn(messages))]
        update["granted"] = list({o["code"]: o for o in granted}.values())
        return {"memory": remembered.model_copy(update=update).model_dump(mode="json")}

    def after_model(state: AgentState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
            return "tools"
        return "guard"

    graph = StateGraph(AgentState)
    graph.add_node("load_context", load_context)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tools)
    graph.add_node("guard", guard)
    graph.add_node("remember", remember)
    graph.add_edge(START, "load_context")
    graph.add_node("for_a_person", for_a_person)
    graph.add_conditional_edges("load_context", after_context, ["model", "for_a_person"])
    graph.add_edge("for_a_person", "remember")
    graph.add_conditional_edges("model", after_model, ["tools", "guard"])
    graph.add_edge("tools", "model")
    graph.add_edge("guard", "remember")
    graph.add_edge("remember", END)
    return graph.compile(checkpointer=checkpointer)


def _tool_audience(rules: Guardrails, name: str) -> str | None:
    audience: str | None = getattr(rules.agent.tools, name).audience
    return audience


def _reply_text(message: AIMessage) -> tuple[str, str | None]:
    """The reply as text, and what was wrong with it (an empty reply, a refusal)."""
    refusal = message.additional_kwargs.get("refusal")
    if refusal:
        return REFUSAL_REPLY, "refusal"
    text = (
        message.content
        if isinstance(message.content, str)
        else thread_memory._text(message.content)
    )
    if not text.strip():
        return EMPTY_REPLY, "empty_reply"
    return text, None


def _tool_rounds(messages: Sequence[AnyMessage]) -> int:
    return sum(
        1
        for m in _this_turn(messages)
        if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls)
    )


def _this_turn(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return list(messages[start + 1 :])


def _search_hits(turn: Sequence[AnyMessage]) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    for message in turn:
        if isinstance(message, ToolMessage) and message.name == "search_products":
            try:
                data = json.loads(str(message.content))
            except ValueError:
                continue
            hits += [p for p in data.get("products", []) if isinstance(p, dict) and "id" in p]
    return hits


def _cards(
    hits: list[dict[str, Any]], granted: list[GrantedOffer], own: frozenset[str]
) -> list[dict[str, Any]]:
    """The product cards of this turn, their text through the same guard as the reply."""
    cards = []
    for hit in hits[:MAX_CARDS]:
        name = clean_catalog_text(unquote(str(hit.get("name", ""))), granted, own).text
        cards.append(
            {
                "id": str(hit["id"]),
                "name": name,
                "price": hit.get("price"),
                "currency": hit.get("currency"),
                "url": _safe_url(hit.get("url")),
                "image_url": _safe_url(hit.get("image_url")),
            }
        )
    return cards


def _safe_url(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _last_human_text(messages: Sequence[AnyMessage]) -> str:
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return str(human.content) if human else ""
