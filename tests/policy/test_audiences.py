"""Audiences: rules over traits and scores, validated with a clear error, evaluated per customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from policy.audiences import AudienceRuleError, audience_facts, matches, parse_rule
from policy.context import CustomerContext
from policy.guardrails import Guardrails

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def facts(**changes: object) -> dict[str, object]:
    ctx = CustomerContext(
        customer_id="c",
        loyalty_tier="gold",
        order_count=4,
        lifetime_value={"USD": 420.0},
        last_order_at=NOW - timedelta(days=40),
        category_affinity={"Shoes > Running": 0.6},
        scores={"churn_risk_90d": 0.7, "purchase_propensity_7d": 0.1},
    )
    return audience_facts(ctx.model_copy(update=changes), NOW)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("churn_risk_90d > 0.6 and lifetime_value.USD > 200", True),
        ("churn_risk_90d > 0.6 and lifetime_value.EUR > 200", False),  # no EUR: not in
        ("recency_days >= 30 and not loyalty_tier == 'silver'", True),
        ("loyalty_tier in ['gold', 'platinum'] or order_count < 2", True),
        ("average_order_value.USD < 100", False),  # 105
        ("category_affinity['shoes > running'] >= 0.5", True),
        ("(order_count > 10 or purchase_propensity_7d > 0.5) and churn_risk_90d < 1", False),
        ("discount_sensitivity > 0.2", False),  # no score yet: the comparison is false
    ],
)
def test_rules_are_evaluated_on_the_customers_facts(rule: str, expected: bool) -> None:
    assert matches(parse_rule(rule), facts()) is expected


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("churn > 0.6", "unknown field 'churn'"),
        ("lifetime_value > 200", "needs a key"),
        ("loyalty_tier > 'gold'", "is text"),
        ("order_count > 2 and", "ends too early"),
        ("order_count = 2", "unexpected"),
        ("__import__('os') > 1", "unknown field"),
    ],
)
def test_a_bad_rule_says_what_is_wrong(rule: str, problem: str) -> None:
    with pytest.raises(AudienceRuleError, match=problem):
        parse_rule(rule)


def test_the_guardrails_refuse_bad_rules_and_unknown_audiences_with_their_path() -> None:
    with pytest.raises(ValidationError) as bad_rule:
        Guardrails.model_validate({"audiences": {"vip": {"rule": "ltv > 1"}}})
    assert bad_rule.value.errors()[0]["loc"] == ("audiences", "vip", "rule")
    with pytest.raises(ValidationError, match=r"programs\.win_back\.audience: no audience 'vip'"):
        Guardrails.model_validate({"programs": {"win_back": {"audience": "vip"}}})
    fine = Guardrails.model_validate(
        {
            "audiences": {"lapsing": {"rule": "churn_risk_90d > 0.6"}},
            "programs": {"win_back": {"audience": "lapsing"}},
            "agent": {"tools": {"offer_discount": {"audience": "lapsing"}}},
        }
    )
    assert fine.program("win_back").audience == "lapsing"
