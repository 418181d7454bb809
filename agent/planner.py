"""The offline planner: a rule-based stand-in for a language model, with the same tool-calling
interface, used when no OpenAI-compatible endpoint is configured.

It is not a language model. It recognises a few intents from patterns (greeting, help, order
status, own profile, otherwise product search), pulls filters out of the words (price bounds,
size, colour, in stock), calls one tool and writes the answer from the tool's result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

COLOURS = ("black", "white", "grey", "gray", "blue", "navy", "red", "green", "yellow", "brown")
GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b[\s!.,]*$", re.I)
HELP = re.compile(r"^\s*(help|what can you do|menu)\??\s*$", re.I)
ORDER = re.compile(r"\b(order|delivery|shipping|shipped|parcel|package|track)\b", re.I)
ORDER_ID = re.compile(r"\b([A-Za-z]{0,4}-?\d{3,}|[A-Za-z]+-[A-Za-z0-9]+)\b")
PROFILE = re.compile(r"\b(my (cart|basket|profile|account)|what did i (buy|order))\b", re.I)
MAX_PRICE = re.compile(r"\b(?:under|below|less than|up to|max(?:imum)?)\s*\$?(\d+(?:\.\d+)?)", re.I)
MIN_PRICE = re.compile(r"\b(?:over|above|more than|at least|from)\s*\$?(\d+(?:\.\d+)?)", re.I)
SIZE = re.compile(r"\bsize\s+([A-Za-z0-9]{1,4})\b", re.I)


def search_arguments(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {"text": text}
    if match := MAX_PRICE.search(text):
        args["max_price"] = float(match.group(1))
    if match := MIN_PRICE.search(text):
        args["min_price"] = float(match.group(1))
    if match := SIZE.search(text):
        args["size"] = match.group(1)
    words = set(re.findall(r"[a-z]+", text.lower()))
    if colour := next((c for c in COLOURS if c in words), None):
        args["colour"] = "grey" if colour == "gray" else colour
    if "in stock" in text.lower() or "available" in words:
        args["in_stock"] = True
    return args


def plan_call(text: str, tools: set[str]) -> tuple[str, dict[str, Any]] | str:
    """The tool to call for a shopper's message, or a direct answer."""
    if GREETING.match(text):
        return "Hi! I can help you find products, check an order, or look at your cart."
    if HELP.match(text):
        return (
            'Ask me for a product in your own words ("waterproof running shoes under 80 in '
            'size 42"), about an order, or what is in your cart.'
        )
    if ORDER.search(text) and "get_order_status" in tools:
        candidates = [m for m in ORDER_ID.findall(text) if any(ch.isdigit() for ch in m)]
        return "get_order_status", ({"order_id": candidates[0]} if candidates else {})
    if PROFILE.search(text) and "get_profile" in tools:
        return "get_profile", {}
    if "search_products" in tools:
        return "search_products", search_arguments(text)
    return "I can't look that up right now; a colleague will get back to you."


def unquote(name: str) -> str:
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


def answer(tool_name: str, content: str) -> str:
    """The reply written from one tool result."""
    data = json.loads(content)
    if tool_name == "search_products":
        products = data.get("products", [])
        if not products:
            return "I couldn't find a match. Could you tell me a bit more about what you need?"
        lines = [
            f"{i}. {unquote(p['name'])}: {p['price']:.2f} {p['currency']}"
            for i, p in enumerate(products, 1)
        ]
        return "Here is what I found:\n" + "\n".join(lines)
    if tool_name == "get_order_status":
        orders = data.get("orders", [])
        if not orders:
            return "I couldn't find that order on your account."
        return "\n".join(
            f"Order {o['order_id']} from {o['placed_at'][:10]} is {o['status']}." for o in orders
        )
    if tool_name == "get_profile":
        cart = data.get("open_cart", [])
        if not cart:
            return "Your cart is empty."
        items = ", ".join(f"{line['quantity']} x {line['product_id']}" for line in cart)
        return f"In your cart: {items}."
    return "Done."


class OfflinePlanner(BaseChatModel):
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
        plan = plan_call(text, set(self.tool_names))
        if isinstance(plan, str):
            return AIMessage(content=plan)
        name, args = plan
        call_id = f"call_{len(messages)}"
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
