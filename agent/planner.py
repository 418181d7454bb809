"""The offline planner: a rule-based stand-in for a language model, with the same tool-calling
interface, used when no OpenAI-compatible endpoint is configured.

It is not a language model. It recognises the intent of the shopper's message (patterns, then
the local embedding model: ``agent.intents``), pulls arguments out of the words (price bounds,
size, colour, category, a percentage, a time, a channel), calls one tool and writes the answer
from the tool's result. It only ever acts on the shopper's own message: tool results, including
product descriptions, are read as data for the answer and never as instructions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from agent.intents import Intent, IntentClassifier
from agent.planner_answers import answer
from agent.planner_arguments import (
    discount_arguments,
    follow_up_arguments,
    order_arguments,
    preference_arguments,
    search_arguments,
)
from profile_store import clock

GREETING = "Hi! I can help you find products, check an order, or look at your cart."
HELP = (
    'Ask me for a product in your own words ("waterproof running shoes under 80 in size 42"), '
    "about an order, for a reminder, or to talk to a person."
)
UNAVAILABLE = "I can't do that here, but I'm happy to help you find a product."
NEED_PRODUCT = "Which product do you mean? Search for it first and I'll keep an eye on it."
INTENT_TOOL = {
    Intent.SEARCH: "search_products",
    Intent.ORDER_STATUS: "get_order_status",
    Intent.PROFILE: "get_profile",
    Intent.DISCOUNT: "offer_discount",
    Intent.FOLLOW_UP: "schedule_follow_up",
    Intent.PREFERENCES: "update_preferences",
    Intent.HUMAN: "handoff_to_human",
}


def last_products(messages: Sequence[BaseMessage]) -> list[str]:
    """The product ids of the latest search in this conversation, best first."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage) and message.name == "search_products":
            try:
                products = json.loads(str(message.content)).get("products", [])
            except ValueError:
                return []
            return [str(p["id"]) for p in products if "id" in p]
    return []


def plan_call(
    text: str,
    intent: Intent,
    tools: set[str],
    history: Sequence[BaseMessage] = (),
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]] | str:
    """The tool to call for a shopper's message, or a direct answer."""
    if intent is Intent.GREETING:
        return GREETING
    if intent is Intent.HELP:
        return HELP
    tool = INTENT_TOOL[intent]
    if tool not in tools:
        return UNAVAILABLE if intent is not Intent.SEARCH else HELP
    when = now or clock.now()
    products = last_products(history)
    if intent is Intent.SEARCH:
        return tool, search_arguments(text)
    if intent is Intent.ORDER_STATUS:
        return tool, order_arguments(text)
    if intent is Intent.PROFILE:
        return tool, {}
    if intent is Intent.DISCOUNT:
        return tool, discount_arguments(text, products)
    if intent is Intent.FOLLOW_UP:
        args = follow_up_arguments(text, products, when)
        return NEED_PRODUCT if args is None else (tool, args)
    if intent is Intent.PREFERENCES:
        return tool, preference_arguments(text)
    return tool, {"reason": text[:300]}


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
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return AIMessage(content=answer(str(last.name), str(last.content)))
        text = str(last.content) if isinstance(last, HumanMessage) else ""
        guess = self.intents.classify(text)
        plan = plan_call(text, guess.intent, set(self.tool_names), messages)
        if isinstance(plan, str):
            return AIMessage(content=plan)
        name, args = plan
        call_id = f"call_{len(messages)}"
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
