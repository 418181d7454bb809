"""The shipped intent model and its data: trained on the shipped set, scored on a set kept apart,
and the collisions that used to misroute shoppers, spot-checked (negative cases included)."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from agent.intents import (
    TRAINING_FILE,
    Intent,
    IntentClassifier,
    IntentGuess,
    local_classifier,
    shipped_model,
    training_dir,
)
from agent.planner import AnswerPlan, ToolPlan, plan_turn
from agent.planner_arguments import search_arguments
from agent.training.fit import data_sha256, training_rows
from bench.intents import HELD_OUT, TOOLS, expected_routes, route_of, shown_memory


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return local_classifier()


def held_out() -> list[dict[str, str]]:
    with HELD_OUT.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_shipped_model_was_fitted_on_the_shipped_training_set() -> None:
    assert shipped_model().data_sha256 == data_sha256(training_dir() / TRAINING_FILE)
    assert set(shipped_model().labels) == {i.value for i in Intent}


def test_the_held_out_set_is_apart_from_training_and_large_enough() -> None:
    rows = held_out()
    trained = {text.lower() for text, _ in training_rows(training_dir() / TRAINING_FILE)}
    assert len(rows) >= 300
    assert not [r["text"] for r in rows if r["text"].lower() in trained]
    assert {r["intent"] for r in rows} <= {i.value for i in Intent}


def test_routing_meets_the_targets_on_the_held_out_set(classifier: IntentClassifier) -> None:
    rows = held_out()
    shown = shown_memory()
    routes = []
    for row in rows:
        memory = shown if row["context"] == "shown" else None
        routes.append(
            route_of(plan_turn(row["text"], classifier.classify(row["text"]), TOOLS, memory))
        )
    right = sum(
        route in expected_routes(Intent(row["intent"]))
        for row, route in zip(rows, routes, strict=True)
    )
    handoffs = [
        row["intent"]
        for row, route in zip(rows, routes, strict=True)
        if route == "handoff_to_human"
    ]
    assert right / len(rows) >= 0.9
    assert handoffs and handoffs.count("human") / len(handoffs) >= 0.95


COLLISIONS: list[tuple[str, Intent]] = [
    ("track pants in black", Intent.SEARCH),
    ("a gift for a person who loves hiking", Intent.SEARCH),
    ("shoes from 2019", Intent.SEARCH),
    ("human hair brush", Intent.SEARCH),
    ("delivery boots for couriers", Intent.SEARCH),
    ("where is my parcel", Intent.ORDER_STATUS),
    ("I want to return the jacket", Intent.RETURN_REFUND),
    ("cancel my order", Intent.CANCEL_ORDER),
    ("what's the weather like in Paris", Intent.OUT_OF_SCOPE),
    ("I forgot my password", Intent.ACCOUNT),
]


@pytest.mark.parametrize(("text", "intent"), COLLISIONS, ids=[c[0] for c in COLLISIONS])
def test_collisions_go_where_they_belong(
    classifier: IntentClassifier, text: str, intent: Intent
) -> None:
    guess = classifier.classify(text)
    assert guess.intent is intent, guess
    plan = plan_turn(text, guess, TOOLS)
    if intent is not Intent.SEARCH:
        assert not (isinstance(plan, ToolPlan) and plan.name == "search_products"), plan
    assert not (isinstance(plan, ToolPlan) and plan.name == "handoff_to_human"), plan


def test_requests_without_a_tool_get_an_honest_answer_and_the_offer_of_a_person(
    classifier: IntentClassifier,
) -> None:
    for text in ("I need an invoice for my last order", "can I pay with paypal"):
        plan = plan_turn(text, classifier.classify(text), TOOLS)
        assert isinstance(plan, AnswerPlan) and "colleague" in plan.text, plan
        assert plan.pending is not None and plan.pending.kind == "handoff"


def test_a_weak_guess_asks_instead_of_guessing() -> None:
    guess = IntentGuess(Intent.SEARCH, 0.3, "model", runner_up=Intent.ORDER_STATUS)
    plan = plan_turn("that thing from before", guess, TOOLS)
    assert isinstance(plan, AnswerPlan)
    assert plan.text == "Just to be sure: do you want to find a product, or check an order?"


SLOTS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("shoes from 2019", {}, ("min_price", "max_price", "size")),
    ("jackets from $100", {"min_price": 100.0}, ()),
    ("running shoes from 80 euros", {"min_price": 80.0}, ()),
    ("anything but red, in size 42", {"not_colours": ["red"], "size": "42"}, ("colour",)),
    ("a blue or black backpack", {"colours": ["blue", "black"]}, ("colour", "not_colours")),
    ("a 4 person tent", {}, ("size",)),
    ("boots size 10 US", {"size": "10"}, ()),
    ("trainers in EU 42", {"size": "42"}, ()),
    ("a hoodie in a medium", {"size": "M"}, ()),
    ("jeans 32 waist", {"size": "32"}, ()),
    ("between 20 and 40", {"min_price": 20.0, "max_price": 40.0}, ()),
]


@pytest.mark.parametrize(("text", "wanted", "absent"), SLOTS, ids=[s[0] for s in SLOTS])
def test_slots_come_only_from_words_that_say_them(
    text: str, wanted: dict[str, Any], absent: tuple[str, ...]
) -> None:
    args = search_arguments(text)
    assert {k: args.get(k) for k in wanted} == wanted, args
    assert not [k for k in absent if k in args], args
