"""The offline planner sends after-sale messages to the order tools, and a yes to confirm."""

from __future__ import annotations

import pytest

from agent.conversation import Memory, Pending
from agent.intents import Intent, IntentClassifier, IntentGuess, local_classifier
from agent.planner import ToolPlan, plan_turn

TOOLS = {
    "get_order_status",
    "request_order_change",
    "confirm_order_change",
    "verify_identity",
    "handoff_to_human",
    "search_products",
}


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return local_classifier()


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("where is my order?", "get_order_status", {}),
        ("please cancel it", "request_order_change", {"action": "cancel"}),
        ("cancel my order #A1234", "request_order_change", {"order_id": "A1234"}),
        ("I want to return the boots", "request_order_change", {"items": ["boots"]}),
        ("can I swap for a 42?", "request_order_change", {"action": "exchange", "size": "42"}),
        ("wrong address on my order", "request_order_change", {"action": "change_address"}),
    ],
)
def test_after_sale_messages_reach_the_order_tools(
    classifier: IntentClassifier, text: str, tool: str, args: dict[str, object]
) -> None:
    plan = plan_turn(text, classifier.classify(text), TOOLS)
    assert isinstance(plan, ToolPlan), plan
    assert plan.name == tool
    assert args.items() <= plan.args.items(), plan.args


def test_a_yes_confirms_and_proof_verifies() -> None:
    waiting = Memory(pending=Pending(kind="order_change"))
    yes = plan_turn("yes", IntentGuess(Intent.AFFIRM, 1.0, "cue"), TOOLS, waiting)
    assert isinstance(yes, ToolPlan) and yes.name == "confirm_order_change"
    proof = plan_turn("it's ada@example.com", IntentGuess(Intent.OUT_OF_SCOPE, 1.0, "cue"), TOOLS)
    assert isinstance(proof, ToolPlan) and proof.args == {"email": "ada@example.com"}
    name = "Ada Lovelace, zip 12345"
    by_name = plan_turn(name, IntentGuess(Intent.OUT_OF_SCOPE, 1.0, "cue"), TOOLS)
    assert isinstance(by_name, ToolPlan)
    assert by_name.args == {"first_name": "Ada", "last_name": "Lovelace", "zip": "12345"}
