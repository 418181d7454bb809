"""The offline planner: a rule-based stand-in for a language model, with the same tool-calling
interface, used when no OpenAI-compatible endpoint is configured.

It is not a language model. It recognises the intent of the shopper's message
(``agent.intents``), reads what a follow-up refers to against the products the shopper saw
(``agent.references``), follows ``agent.routing`` to one tool call or a direct answer, and
writes the reply from the tool's result (``agent.planner_answers``). It sees the same facts as
a model: the graph hands both the conversation memory and the shopper's profile summary with
the system message. It only ever acts on the shopper's own message: tool results, including
product descriptions, are read as data for the answer and never as instructions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, ValidationError

from agent import planner_answers as say
from agent.conversation import META_KEY, Memory, Pending, SearchFilters, ShownProduct
from agent.intents import Intent, IntentClassifier, IntentGuess
from agent.planner_answers import answer
from agent.planner_arguments import (
    change_arguments,
    discount_arguments,
    follow_up_arguments,
    order_arguments,
    preference_arguments,
    search_arguments,
    verify_arguments,
)
from agent.references import Reference, resolve
from agent.routing import DESCRIPTIONS, ROUTES
from profile_store import clock
from tools.agent_tools.profile import ShopperFacts

USUAL_SIZE = re.compile(r"\b(usual|normal|my) size\b", re.I)
# With no question pending, "cancel it" is about the order just discussed, not "never mind".
CANCEL_ORDER = re.compile(r"\bcancel\s+(it|that|my order|the order|order)\b", re.I)
SHORT = 7  # words: a follow-up, not a new search
PRODUCT_WORDS = re.compile(r"[a-z]{4,}", re.I)
FOLLOW_UP_WORDS = frozenset(
    {"cheaper", "more", "please", "first", "second", "third", "last", "these", "those", "other"}
)


@dataclass
class ToolPlan:
    name: str
    args: dict[str, Any]
    note: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnswerPlan:
    text: str
    pending: Pending | None = None
    selected: str | None = None


Plan = ToolPlan | AnswerPlan


def plan_turn(
    text: str,
    guess: IntentGuess,
    tools: set[str],
    memory: Memory | None = None,
    facts: ShopperFacts | None = None,
    now: datetime | None = None,
) -> Plan:
    """The tool to call for a shopper's message, or a direct answer."""
    memory = memory or Memory()
    when = now or clock.now()
    intent = guess.intent
    ref = resolve(text, memory)
    proof = verify_arguments(text)
    if proof is not None and "verify_identity" in tools:
        return ToolPlan("verify_identity", proof, {"kind": "verify"})
    if memory.pending is not None and intent in (Intent.AFFIRM, Intent.DENY, Intent.CANCEL):
        return _answer_pending(memory.pending, intent, tools)
    if intent is Intent.CANCEL and CANCEL_ORDER.search(text) and "request_order_change" in tools:
        intent, guess = Intent.CANCEL_ORDER, IntentGuess(Intent.CANCEL_ORDER, 1.0, "cue")
    if intent is Intent.CANCEL:
        return AnswerPlan(say.NEVER_MIND)
    if intent is Intent.DENY:
        return AnswerPlan(say.ANYTHING_ELSE)
    if intent is Intent.AFFIRM:
        if memory.shown and memory.shown_by != "search" and "search_products" in tools:
            first = memory.shown[0]
            args = {"text": first.name or first.id, "product_ids": [first.id]}
            return ToolPlan("search_products", args, {"kind": "show"})
        return AnswerPlan(say.ANYTHING_ELSE)
    if memory.shown and _follows_up(text, intent, ref):
        plan = _refine(ref, memory, tools)
        if plan is not None:
            return plan
    if intent is Intent.REFINE and not memory.shown:
        if not _names_something(text):
            return AnswerPlan(say.WHICH_PRODUCT)
        intent = Intent.SEARCH
    elif intent is Intent.REFINE:
        intent = Intent.SEARCH
    if not guess.confident:
        return AnswerPlan(_clarify(guess))
    return _route(text, intent, guess, ref, tools, memory, facts, when)


def _route(
    text: str,
    intent: Intent,
    guess: IntentGuess,
    ref: Reference,
    tools: set[str],
    memory: Memory,
    facts: ShopperFacts | None,
    now: datetime,
) -> Plan:
    if intent is Intent.GREETING:
        name = facts.first_name if facts and facts.first_name else None
        return AnswerPlan(say.greeting(name))
    if intent is Intent.THANKS:
        return AnswerPlan(say.THANKS)
    if intent is Intent.HELP:
        return AnswerPlan(say.HELP)
    if intent is Intent.OUT_OF_SCOPE:
        return AnswerPlan(say.OUT_OF_SCOPE)
    route = ROUTES[intent]
    if route.tool is None:
        return AnswerPlan(say.no_tool(route.topic or "that"), Pending(kind="handoff", reason=text))
    if route.tool not in tools:
        if intent is Intent.SEARCH:
            return AnswerPlan(say.HELP)
        if route.topic:
            return AnswerPlan(say.no_tool(route.topic))
        return AnswerPlan(say.UNAVAILABLE)
    chosen = ref.product.id if ref.product else memory.selected
    products = [chosen] if chosen else [p.id for p in memory.shown[:1]]
    if intent is Intent.SEARCH:
        args = search_arguments(text)
        if USUAL_SIZE.search(text) and facts and facts.preferences.get("size"):
            args["size"] = facts.preferences["size"]
        return ToolPlan(route.tool, args, {"kind": "search"})
    if route.tool == "request_order_change":
        return ToolPlan(route.tool, change_arguments(text, intent), {"kind": intent.value})
    if route.tool == "get_order_status":
        return ToolPlan(
            route.tool, order_arguments(text), {"kind": intent.value, "topic": route.topic}
        )
    if intent is Intent.PROFILE:
        if facts is not None and (reply := say.from_facts(text, facts)) is not None:
            return AnswerPlan(reply)
        return ToolPlan(route.tool, {})
    if intent is Intent.DISCOUNT:
        return ToolPlan(route.tool, discount_arguments(text, products))
    if intent is Intent.FOLLOW_UP:
        follow = follow_up_arguments(text, products, now)
        return AnswerPlan(say.NEED_PRODUCT) if follow is None else ToolPlan(route.tool, follow)
    if intent is Intent.PREFERENCES:
        return ToolPlan(route.tool, preference_arguments(text))
    if intent is Intent.HUMAN and not guess.explicit:
        return AnswerPlan(say.CONFIRM_HANDOFF, Pending(kind="handoff", reason=text[:300]))
    return ToolPlan(route.tool, {"reason": text[:300]})


def _answer_pending(pending: Pending, intent: Intent, tools: set[str]) -> Plan:
    if intent is not Intent.AFFIRM:
        if pending.kind == "order_change" and "confirm_order_change" in tools:
            return ToolPlan("confirm_order_change", {})  # the tool records the no
        return AnswerPlan(say.NEVER_MIND if intent is Intent.CANCEL else say.STAYING)
    if pending.kind == "order_change":
        if "confirm_order_change" not in tools:
            return AnswerPlan(say.UNAVAILABLE)
        return ToolPlan("confirm_order_change", {})
    if pending.kind == "handoff":
        if "handoff_to_human" not in tools:
            return AnswerPlan(say.UNAVAILABLE)
        return ToolPlan("handoff_to_human", {"reason": pending.reason[:300] or "asked"})
    if pending.kind == "watch" and pending.product_ids and "schedule_follow_up" in tools:
        args: dict[str, Any] = {"kind": "back_in_stock", "product_ids": pending.product_ids[:1]}
        if pending.size:
            args["size"] = pending.size
        return ToolPlan("schedule_follow_up", args)
    if pending.kind == "show" and pending.product_ids and "search_products" in tools:
        first = pending.product_ids[0]
        return ToolPlan(
            "search_products", {"text": first, "product_ids": [first]}, {"kind": "show"}
        )
    return AnswerPlan(say.ANYTHING_ELSE)


def _follows_up(text: str, intent: Intent, ref: Reference) -> bool:
    if intent is Intent.REFINE:
        return True
    if intent is not Intent.SEARCH or not ref.anything:
        return False
    if ref.product is not None and ref.by in ("ordinal", "other", "colour"):
        return True  # "the second one", whatever else the message says
    return len(text.split()) <= SHORT and not _names_something(text)


def _names_something(text: str) -> bool:
    """Words that could name a product (not only "cheaper", "more", a colour, a size)."""
    from agent.planner_arguments import COLOURS

    words = {w.lower() for w in PRODUCT_WORDS.findall(text)}
    return bool(words - FOLLOW_UP_WORDS - set(COLOURS) - {"size", "stock", "with", "have"})


def _refine(ref: Reference, memory: Memory, tools: set[str]) -> Plan | None:
    if "search_products" not in tools:
        return None
    product = ref.product
    if product is not None:
        if ref.size or ref.colours or ref.stock:
            return _check(product, ref)
        if ref.asks or ref.by:
            if product.name is None:
                args = {"text": product.id, "product_ids": [product.id]}
                return ToolPlan("search_products", args, _note("details", product))
            return AnswerPlan(say.details(product, ref.asks), selected=product.id)
    if not ref.changes_search:
        return None
    filters = _changed(memory, ref)
    if filters is None:
        return AnswerPlan(say.WHICH_PRODUCT)
    return ToolPlan("search_products", filters.arguments(), {"kind": "refine"})


def _check(product: ShownProduct, ref: Reference) -> ToolPlan:
    """Does this product come in that size or colour (in stock)? An exact search by its id with
    the variant filters answers it."""
    args: dict[str, Any] = {"text": product.name or product.id, "product_ids": [product.id]}
    if ref.size:
        args["size"] = ref.size
    if ref.colours:
        args["colour"] = ref.colours[0]
    in_stock = ref.stock or bool(ref.size)
    if in_stock:
        args["in_stock"] = True
    note = _note("check", product) | {
        "size": ref.size,
        "colour": ref.colours[0] if ref.colours else None,
        "in_stock": in_stock,
    }
    return ToolPlan("search_products", args, note)


def _note(kind: str, product: ShownProduct) -> dict[str, Any]:
    return {"kind": kind, "product_id": product.id, "name": product.name}


def _changed(memory: Memory, ref: Reference) -> SearchFilters | None:
    filters = memory.filters.model_copy(deep=True)
    if not filters.text:
        names = [p.name for p in memory.shown if p.name]
        if not names:
            return None
        filters.text = names[0]
    prices = [p.price for p in memory.shown if p.price is not None]
    if ref.cheaper and prices:
        filters.max_price = round(min(prices) - 0.01, 2)
        filters.min_price = None
    if ref.pricier and prices:
        filters.min_price = round(max(prices) + 0.01, 2)
        filters.max_price = None
    if ref.prices:
        filters.min_price = ref.prices.get("min_price", filters.min_price)
        filters.max_price = ref.prices.get("max_price", filters.max_price)
    if ref.more:
        filters.exclude_ids = list(
            dict.fromkeys([*filters.exclude_ids, *(p.id for p in memory.shown)])
        )
    if ref.colours:
        filters.colours = ref.colours
        filters.not_colours = [c for c in filters.not_colours if c not in ref.colours]
    if ref.not_colours:
        filters.not_colours = list(dict.fromkeys([*filters.not_colours, *ref.not_colours]))
        filters.colours = [c for c in filters.colours if c not in ref.not_colours]
    if ref.size:
        filters.size = ref.size
    if ref.in_stock_only:
        filters.in_stock = True
    return filters


def _clarify(guess: IntentGuess) -> str:
    options = [
        DESCRIPTIONS[i]
        for i in (guess.intent, guess.runner_up)
        if i is not None and i in DESCRIPTIONS
    ]
    options = list(dict.fromkeys(options))
    if len(options) == 2:
        return f"Just to be sure: do you want to {options[0]}, or {options[1]}?"
    if options:
        return f"Just to be sure: do you want to {options[0]}? Tell me a bit more."
    return say.NOT_SURE


class OfflinePlanner(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    intents: IntentClassifier = IntentClassifier()
    tool_names: tuple[str, ...] = ()

    @property
    def _llm_type(self) -> str:
        return "chatcommerce-offline-planner"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        names = tuple(t.name for t in tools if isinstance(t, BaseTool))
        return self.model_copy(update={"tool_names": names})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        memory, facts = _turn_facts(messages)
        last = messages[-1]
        if isinstance(last, ToolMessage):
            note = _note_of(messages, last)
            written = answer(str(last.name), str(last.content), note, memory)
            return _reply(written.text, written.pending, written.selected)
        text = str(last.content) if isinstance(last, HumanMessage) else ""
        guess = self.intents.classify(text)
        plan = plan_turn(text, guess, set(self.tool_names), memory, facts)
        if isinstance(plan, AnswerPlan):
            return _reply(plan.text, plan.pending, plan.selected)
        call_id = f"call_{len(messages)}"
        return AIMessage(
            content="",
            tool_calls=[{"name": plan.name, "args": plan.args, "id": call_id}],
            additional_kwargs={META_KEY: {"plan": plan.note}},
        )


def _reply(text: str, pending: Pending | None, selected: str | None) -> AIMessage:
    meta: dict[str, Any] = {"pending": pending.model_dump() if pending else None}
    if selected:
        meta["selected"] = selected
    return AIMessage(content=text, additional_kwargs={META_KEY: meta})


def _turn_facts(messages: Sequence[BaseMessage]) -> tuple[Memory, ShopperFacts | None]:
    """The memory and profile the graph put on the system message for this turn."""
    system = next((m for m in messages if isinstance(m, SystemMessage)), None)
    data = system.additional_kwargs.get(META_KEY, {}) if system else {}
    memory = Memory.model_validate(data.get("memory") or {}) if data else Memory()
    facts = None
    if data.get("facts"):
        try:
            facts = ShopperFacts.model_validate(data["facts"])
        except ValidationError:
            facts = None
    return memory, facts


def _note_of(messages: Sequence[BaseMessage], result: ToolMessage) -> dict[str, Any]:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and any(
            c["id"] == result.tool_call_id for c in message.tool_calls
        ):
            meta = message.additional_kwargs.get(META_KEY) or {}
            plan = meta.get("plan") if isinstance(meta, dict) else None
            return plan if isinstance(plan, dict) else {}
    return {}
