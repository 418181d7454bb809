"""Intent benchmark: per-intent precision and recall of the offline classifier, and where the
planner routes each message, on a labelled set kept apart from training.

``bench/data/intents_heldout.csv`` holds shopper lines written for this benchmark (none is in
``agent/training/intents.csv``; a test checks), with collisions on purpose ("track pants in
black", "a gift for a person who loves hiking", "shoes from 2019", "human hair brush"). Lines
marked ``shown`` are follow-ups, planned as if three products had just been shown.

"Routed right" is the planner's action for the line being the one its label leads to (the
tool of ``agent.routing``, a direct answer, or the offer of a person for what no tool does).
Handoff precision counts only real handoffs (the tool called), not offers of one.
Run: ``.venv/bin/python -m bench.intents``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

from agent.conversation import Memory, refresh_shown
from agent.intent_labels import Intent
from agent.intents import local_classifier
from agent.planner import AnswerPlan, Plan, ToolPlan, plan_turn
from agent.routing import ROUTES
from policy.guardrails import AgentTools

HELD_OUT = Path(__file__).with_name("data") / "intents_heldout.csv"
RESULTS = Path(__file__).with_name("results") / "intents.json"
TOOLS = set(AgentTools.model_fields)  # every tool on, as in the demo guardrails
ANSWERED = {Intent.GREETING, Intent.THANKS, Intent.HELP, Intent.AFFIRM, Intent.DENY}
ANSWERED |= {Intent.CANCEL, Intent.OUT_OF_SCOPE}


def shown_memory() -> Memory:
    products = [
        {"id": f"p-{i}", "name": f'"Product {i}"', "price": 40.0 + 10 * i, "currency": "USD"}
        for i in range(1, 4)
    ]
    call = AIMessage(
        "", tool_calls=[{"name": "search_products", "args": {"text": "boots"}, "id": "c1"}]
    )
    result = ToolMessage(
        json.dumps({"products": products}), tool_call_id="c1", name="search_products"
    )
    return refresh_shown(Memory(), [call, result])


def route_of(plan: Plan) -> str:
    if isinstance(plan, ToolPlan):
        return plan.name
    assert isinstance(plan, AnswerPlan)
    if plan.pending is not None and plan.pending.kind == "handoff":
        return "offer_person"
    if plan.text.startswith("Just to be sure") or plan.text.startswith("Sorry, I didn't quite"):
        return "clarify"
    return "answer"


def expected_routes(intent: Intent) -> set[str]:
    if intent in ANSWERED:
        return {"answer"}
    if intent is Intent.HUMAN:
        return {"handoff_to_human", "offer_person"}
    if intent is Intent.REFINE:
        return {"search_products", "answer"}  # a detail of a shown product needs no search
    route = ROUTES[intent]
    return {route.tool} if route.tool else {"offer_person"}


def main() -> int:
    with HELD_OUT.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    classifier = local_classifier()
    classifier.classify("warm up")  # loads the model outside the timing
    shown = shown_memory()
    predicted: list[Intent] = []
    routes: list[str] = []
    started = time.perf_counter()
    for row in rows:
        guess = classifier.classify(row["text"])
        memory = shown if row["context"] == "shown" else Memory()
        predicted.append(guess.intent)
        routes.append(route_of(plan_turn(row["text"], guess, TOOLS, memory)))
    per_message_ms = (time.perf_counter() - started) * 1000 / len(rows)
    labels = [Intent(row["intent"]) for row in rows]
    table = per_intent(labels, predicted)
    right = [route in expected_routes(label) for label, route in zip(labels, routes, strict=True)]
    handoffs = [
        label for label, route in zip(labels, routes, strict=True) if route == "handoff_to_human"
    ]
    handoff_precision = sum(1 for label in handoffs if label is Intent.HUMAN) / max(
        len(handoffs), 1
    )
    searched_wrongly = sum(
        1
        for label, route in zip(labels, routes, strict=True)
        if route == "search_products" and label not in (Intent.SEARCH, Intent.REFINE)
    )
    summary: dict[str, Any] = {
        "messages": len(rows),
        "intent_accuracy": round(
            sum(p is t for p, t in zip(predicted, labels, strict=True)) / len(rows), 4
        ),
        "routed_right": round(sum(right) / len(rows), 4),
        "handoffs": len(handoffs),
        "handoff_precision": round(handoff_precision, 4),
        "non_searches_sent_to_search": searched_wrongly,
        "ms_per_message": round(per_message_ms, 2),
        "per_intent": table,
        "misrouted": [
            {"text": row["text"], "intent": row["intent"], "route": route}
            for row, route, ok in zip(rows, routes, right, strict=True)
            if not ok
        ],
    }
    print(f"{'intent':<18}{'n':>5}{'precision':>11}{'recall':>8}")
    for name, stats in table.items():
        print(f"{name:<18}{stats['n']:>5}{stats['precision']:>11.2f}{stats['recall']:>8.2f}")
    print(
        f"\n{len(rows)} messages: intent accuracy {summary['intent_accuracy']:.1%}, routed right "
        f"{summary['routed_right']:.1%}, handoff precision {handoff_precision:.1%} "
        f"({len(handoffs)} handoffs), {searched_wrongly} non-search messages searched, "
        f"{per_message_ms:.1f} ms per message"
    )
    for miss in summary["misrouted"]:
        print(f"  misrouted: {miss['text']!r} ({miss['intent']}) -> {miss['route']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def per_intent(labels: list[Intent], predicted: list[Intent]) -> dict[str, dict[str, Any]]:
    truth = Counter(labels)
    guessed = Counter(predicted)
    hits = Counter(t for t, p in zip(labels, predicted, strict=True) if t is p)
    return {
        intent.value: {
            "n": truth[intent],
            "precision": round(hits[intent] / guessed[intent], 3) if guessed[intent] else 0.0,
            "recall": round(hits[intent] / truth[intent], 3) if truth[intent] else 0.0,
        }
        for intent in Intent
        if truth[intent] or guessed[intent]
    }


if __name__ == "__main__":
    sys.exit(main())
