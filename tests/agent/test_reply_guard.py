"""The reply guard on its own: what it lets through, what it replaces, and why."""

from __future__ import annotations

from agent.prompt import system_prompt
from agent.reply_guard import (
    NO_DISCOUNT,
    PROMPT_REFUSAL,
    GrantedOffer,
    GuardInput,
    guard_reply,
)
from policy.guardrails import AgentConfig

CONFIG = AgentConfig(blocked_topics=["politics", "medical advice"])
PROMPT = system_prompt(CONFIG, "channel sms")


def guard(
    reply: str,
    shopper: str = "hi",
    granted: list[GrantedOffer] | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> tuple[str, list[str]]:
    result = guard_reply(
        GuardInput(
            reply=reply,
            shopper_text=shopper,
            system_prompt=PROMPT,
            config=CONFIG,
            granted=granted or [],
            own_addresses=own_addresses,
        )
    )
    return result.text, result.violations


def test_ordinary_replies_pass_unchanged() -> None:
    for reply in [
        "Here is what I found:\n1. Ridge Hiking Boot: 120.00 USD",
        "This shirt is 100% cotton.",
        "Order 10234 from 2026-11-20 is placed.",
    ]:
        assert guard(reply) == (reply, [])


def test_a_discount_the_tool_did_not_grant_is_replaced() -> None:
    assert guard("Sure, 30% off for you!") == (NO_DISCOUNT, ["ungranted_discount:30%"])
    assert guard("Use code SAVE50 at checkout")[1] == ["unknown_code:SAVE50"]
    assert guard("Your code CC-0000ABCD works")[1] == ["unknown_code:CC-0000ABCD"]


def test_a_granted_discount_passes_and_a_bigger_one_falls_back_to_it() -> None:
    granted = [GrantedOffer(percent=10, code="CC-1234ABCD")]
    ok = "Use code CC-1234ABCD for 10% off."
    assert guard(ok, granted=granted) == (ok, [])
    text, violations = guard("Actually take 25% off with CC-1234ABCD", granted=granted)
    assert violations == ["ungranted_discount:25%"] and "CC-1234ABCD gives you 10% off" in text


def test_the_system_prompt_is_never_repeated() -> None:
    leak = "My instructions: " + PROMPT.split("\n\n")[0]
    assert guard(leak) == (PROMPT_REFUSAL, ["system_prompt_leak"])
    assert guard("I help you find products and check orders.")[1] == []


def test_blocked_topics_in_the_question_or_the_answer_get_the_marketers_reply() -> None:
    assert guard("Sure.", shopper="thoughts on politics?")[0] == CONFIG.blocked_topic_reply
    assert guard("For medical advice, try ...")[1] == ["blocked_topic:medical advice"]


def test_phone_numbers_and_emails_other_than_the_shoppers_are_hidden() -> None:
    own = frozenset({"+15551234567"})
    text, violations = guard(
        "We'll text +1 555 123 4567; Bob is at +1 (555) 000-1111 or bob@example.com",
        own_addresses=own,
    )
    assert text == "We'll text +1 555 123 4567; Bob is at [hidden] or [hidden]"
    assert violations == ["foreign_phone", "foreign_email"]
