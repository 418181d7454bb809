"""What the conversation is about right now: the products the shopper saw, the one they picked,
the filters of the last search, and a question the bot is waiting to hear answered.

Kept in the graph state (as plain JSON, checkpointed with the thread) so that "the second one",
"in blue", "cheaper?", "in 42?" and "yes" act on what the shopper actually saw, whichever model
answers. Products count as shown when a search returned them or when an automated message
(a cart reminder, a back-in-stock note) put them in the thread: such a message is an
``AIMessage`` whose ``response_metadata["origin"]`` names its ``product_ids``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from pydantic import BaseModel, Field, ValidationError

MAX_SHOWN = 10
# What the planner (or the graph) stores on its reply for the next turn.
META_KEY = "chatcommerce"


def unquote(name: str) -> str:
    """A product name without the quotes search results carry it in (see search_products)."""
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


class ShownProduct(BaseModel):
    id: str
    name: str | None = None
    price: float | None = None
    currency: str | None = None
    in_stock: bool | None = None
    sizes: list[str] = Field(default_factory=list)
    colours: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)


class SearchFilters(BaseModel):
    """The last search, so a refinement changes one thing and keeps the rest."""

    text: str = ""
    min_price: float | None = None
    max_price: float | None = None
    category: str | None = None
    size: str | None = None
    colours: list[str] = Field(default_factory=list)
    not_colours: list[str] = Field(default_factory=list)
    in_stock: bool = False
    exclude_ids: list[str] = Field(default_factory=list)

    def arguments(self) -> dict[str, Any]:
        """As ``search_products`` arguments (the tool's names, defaults left out)."""
        args: dict[str, Any] = {"text": self.text}
        for key in ("min_price", "max_price", "category", "size"):
            if (value := getattr(self, key)) is not None:
                args[key] = value
        if len(self.colours) == 1:
            args["colour"] = self.colours[0]
        elif self.colours:
            args["colours"] = list(self.colours)
        if self.not_colours:
            args["not_colours"] = list(self.not_colours)
        if self.in_stock:
            args["in_stock"] = True
        if self.exclude_ids:
            args["exclude_ids"] = list(self.exclude_ids)
        return args

    @classmethod
    def from_arguments(cls, args: dict[str, Any]) -> SearchFilters:
        colours = list(args.get("colours") or [])
        if args.get("colour"):
            colours = [str(args["colour"]), *colours]
        try:
            return cls(
                text=str(args.get("text") or ""),
                min_price=args.get("min_price"),
                max_price=args.get("max_price"),
                category=args.get("category"),
                size=args.get("size"),
                colours=colours,
                not_colours=list(args.get("not_colours") or []),
                in_stock=bool(args.get("in_stock")),
                exclude_ids=list(args.get("exclude_ids") or []),
            )
        except ValidationError:
            return cls(text=str(args.get("text") or ""))


PendingKind = Literal["handoff", "watch", "show", "order_change", "verify"]


class Pending(BaseModel):
    """A question the bot asked and what "yes" will do."""

    kind: PendingKind
    product_ids: list[str] = Field(default_factory=list)
    size: str | None = None
    reason: str = ""


class Memory(BaseModel):
    shown: list[ShownProduct] = Field(default_factory=list)
    shown_from: str | None = None  # id of the message that showed them
    shown_by: str = "search"  # "search" or an automated program's name
    selected: str | None = None
    filters: SearchFilters = Field(default_factory=SearchFilters)
    pending: Pending | None = None
    granted: list[dict[str, Any]] = Field(default_factory=list)  # offers the tool granted

    def product(self, product_id: str | None) -> ShownProduct | None:
        return next((p for p in self.shown if p.id == product_id), None)

    @classmethod
    def of(cls, state: dict[str, Any]) -> Memory:
        try:
            return cls.model_validate(state.get("memory") or {})
        except ValidationError:
            return cls()


def refresh_shown(memory: Memory, messages: Sequence[AnyMessage]) -> Memory:
    """The products of the newest search result or automated message, if newer than what the
    memory holds; the filters of that search with them. A search about given products (a
    stock or detail question, ``product_ids``) only fills in what is known about them."""
    details: dict[str, ShownProduct] = {}
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        shown = _shown_by(message)
        if shown is None:
            continue
        products, by = shown
        args = _call_arguments(messages[:index], message) if by == "search" else None
        if args is not None and args.get("product_ids"):
            for product in products:
                details.setdefault(product.id, product)
            continue
        if message.id is not None and message.id == memory.shown_from:
            return _with_details(memory, details)
        update: dict[str, Any] = {
            "shown": products[:MAX_SHOWN],
            "shown_from": message.id,
            "shown_by": by,
        }
        if args is not None:
            update["filters"] = SearchFilters.from_arguments(args)
        if memory.selected not in {p.id for p in products}:
            update["selected"] = products[0].id if len(products) == 1 else None
        return _with_details(memory.model_copy(update=update), details)
    return _with_details(memory, details)


def _with_details(memory: Memory, details: dict[str, ShownProduct]) -> Memory:
    if not details:
        return memory
    shown = [details[p.id] if p.id in details and p.name is None else p for p in memory.shown]
    return memory.model_copy(update={"shown": shown})


def granted_offers(messages: Sequence[AnyMessage]) -> list[dict[str, Any]]:
    offers = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.name == "offer_discount":
            data = _json(message.content)
            if data.get("status") == "granted" and data.get("code"):
                offers.append({"percent": float(data["percent"]), "code": str(data["code"])})
    return offers


def reply_metadata(message: AnyMessage) -> dict[str, Any]:
    """What the planner stored on its reply (``additional_kwargs["chatcommerce"]``)."""
    value = message.additional_kwargs.get(META_KEY) if isinstance(message, AIMessage) else None
    return value if isinstance(value, dict) else {}


def _shown_by(message: AnyMessage) -> tuple[list[ShownProduct], str] | None:
    if isinstance(message, ToolMessage) and message.name == "search_products":
        data = _json(message.content)
        hits = [_from_hit(p) for p in data.get("products", []) if isinstance(p, dict)]
        products = [p for p in hits if p is not None]
        return (products, "search") if products else None
    if isinstance(message, AIMessage):
        origin = message.response_metadata.get("origin")
        if isinstance(origin, dict) and origin.get("product_ids"):
            ids = [str(i) for i in origin["product_ids"]]
            return [ShownProduct(id=i) for i in ids], str(origin.get("program") or "automated")
    return None


def _from_hit(hit: dict[str, Any]) -> ShownProduct | None:
    if "id" not in hit:
        return None
    variants = [v for v in hit.get("matching_variants", []) if isinstance(v, dict)]
    return ShownProduct(
        id=str(hit["id"]),
        name=unquote(str(hit.get("name") or "")) or None,
        price=hit.get("price"),
        currency=hit.get("currency"),
        in_stock=hit.get("in_stock"),
        sizes=sorted({str(v["size"]) for v in variants if v.get("size")}),
        colours=sorted({str(v["colour"]) for v in variants if v.get("colour")}),
        category=[str(c) for c in hit.get("category", [])],
    )


def _call_arguments(before: Sequence[AnyMessage], result: AnyMessage) -> dict[str, Any] | None:
    call_id = getattr(result, "tool_call_id", None)
    for message in reversed(before):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] == call_id:
                    return dict(call["args"])
    return None


def _json(content: Any) -> dict[str, Any]:
    try:
        data = json.loads(str(content))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
