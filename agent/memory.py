"""Bounded memory: what of the thread is sent to the model, and what is folded into a summary.

Every turn sends the system prompt, a running summary of older turns, the recent turns that fit
a token budget and the current turn whole. Tool results of earlier turns go as a one-line
digest, not the JSON the tool returned. Turns that no longer fit are removed from the
checkpointed thread once they are in the summary, so neither the prompt nor the state grows
with the length of the conversation. Tokens are estimated (four characters each): the budget
is a bound, not a bill.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, ToolMessage

from agent.conversation import unquote

HISTORY_TOKENS = 1200  # earlier turns sent to the model, besides the current one
KEEP_TOKENS = 2400  # earlier turns kept in the thread before the oldest are summarised
SUMMARY_CHARS = 1200
SNIPPET = 90


def tokens(message: AnyMessage) -> int:
    size = len(_text(message.content))
    if isinstance(message, AIMessage):
        size += sum(len(c["name"]) + len(json.dumps(c["args"])) for c in message.tool_calls)
    return size // 4 + 4


def turns(messages: Sequence[AnyMessage]) -> list[list[AnyMessage]]:
    """The thread cut at each shopper message (whatever came before the first is a turn too)."""
    cut: list[list[AnyMessage]] = [[]]
    for message in messages:
        if isinstance(message, HumanMessage) and cut[-1]:
            cut.append([])
        cut[-1].append(message)
    return [turn for turn in cut if turn]


def window(messages: Sequence[AnyMessage], budget: int = HISTORY_TOKENS) -> list[AnyMessage]:
    """The current turn whole, and as many earlier turns as fit ``budget``, their tool results
    as digests."""
    cut = turns(messages)
    if not cut:
        return []
    kept: list[list[AnyMessage]] = [cut[-1]]
    spent = 0
    for turn in reversed(cut[:-1]):
        compact = [digest(m) for m in turn]
        cost = sum(tokens(m) for m in compact)
        if spent + cost > budget:
            break
        kept.insert(0, compact)
        spent += cost
    return [m for turn in kept for m in turn]


def prune(
    messages: Sequence[AnyMessage], summary: str, keep: int = KEEP_TOKENS
) -> tuple[list[RemoveMessage], str]:
    """Removals for the oldest turns beyond ``keep`` tokens (never the current turn), and the
    summary with them folded in."""
    cut = turns(messages)
    spent = 0
    oldest_kept = len(cut) - 1
    for index in range(len(cut) - 2, -1, -1):
        spent += sum(tokens(m) for m in cut[index])
        if spent > keep:
            break
        oldest_kept = index
    dropped = cut[:oldest_kept]
    if not dropped:
        return [], summary
    lines = [line for turn in dropped if (line := _summarise(turn))]
    folded = "\n".join(part for part in (summary, *lines) if part)
    if len(folded) > SUMMARY_CHARS:
        folded = "…" + folded[-SUMMARY_CHARS:].split("\n", 1)[-1]
    removals = [RemoveMessage(id=m.id) for turn in dropped for m in turn if m.id]
    return removals, folded


def digest(message: AnyMessage) -> AnyMessage:
    """An old tool result as one line: what it was about, not every field of it."""
    if not isinstance(message, ToolMessage):
        return message
    return message.model_copy(update={"content": _digest_text(message)})


def _digest_text(message: ToolMessage) -> str:
    try:
        data = json.loads(_text(message.content))
    except ValueError:
        return _text(message.content)[:200]
    if not isinstance(data, dict):
        return _text(message.content)[:200]
    if message.name == "search_products":
        products = [p for p in data.get("products", []) if isinstance(p, dict)]
        shown = "; ".join(
            f"{p.get('id')} {unquote(str(p.get('name', '')))} {p.get('price')} {p.get('currency')}"
            for p in products
        )
        return f"(earlier search) {len(products)} product(s): {shown}"[:400]
    compact = {k: v for k, v in data.items() if not isinstance(v, list | dict)}
    return f"(earlier {message.name}) {json.dumps(compact)[:300]}"


def _summarise(turn: Sequence[AnyMessage]) -> str:
    said = next((m for m in turn if isinstance(m, HumanMessage)), None)
    tools = sorted({str(m.name) for m in turn if isinstance(m, ToolMessage)})
    answer = next(
        (m for m in reversed(turn) if isinstance(m, AIMessage) and not m.tool_calls), None
    )
    parts = []
    if said is not None:
        parts.append(f"shopper: {json.dumps(_text(said.content)[:SNIPPET])}")
    if tools:
        parts.append(f"tools: {', '.join(tools)}")
    if answer is not None:
        who = "colleague" if answer.name == "colleague" else "bot"
        parts.append(f"{who}: {json.dumps(_text(answer.content)[:SNIPPET])}")
    return "; ".join(parts)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)
