"""Audiences: who a program or an agent tool is for, as a rule over traits and scores.

A marketer writes ``churn_risk_90d > 0.6 and lifetime_value.USD > 200``. The rule is parsed
once when the guardrails are validated (an unknown field, a comparison that makes no sense or a
syntax error is a clear error with the position), never evaluated with ``eval``, and evaluated
against each customer's facts at decision time.

Grammar (``or`` binds looser than ``and``, ``and`` looser than ``not``)::

    rule       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" rule ")" | comparison
    comparison := field op value | field "in" "[" value ("," value)* "]"
    op         := "<" | "<=" | ">" | ">=" | "==" | "!="
    field      := name ("." key | "[" 'key' "]")?   e.g. recency_days, lifetime_value.USD,
                                                  category_affinity['shoes > running']
    value      := number | 'text' | "text" | true | false
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policy.context import CustomerContext
from policy.products import category_key

# Fields a rule may name, with their kind; "map" fields take one key (a currency, a category).
NUMBER, TEXT, MAP = "number", "text", "map"
FIELDS: dict[str, str] = {
    "purchase_propensity_7d": NUMBER,
    "churn_risk_90d": NUMBER,
    "discount_sensitivity": NUMBER,
    "expected_value_90d": NUMBER,
    "order_count": NUMBER,
    "discounted_order_count": NUMBER,
    "refund_count": NUMBER,
    "event_count": NUMBER,
    "recency_days": NUMBER,
    "days_since_seen": NUMBER,
    "cart_value": NUMBER,
    "lifetime_value": MAP,
    "average_order_value": MAP,
    "category_affinity": MAP,
    "loyalty_tier": TEXT,
    "locale": TEXT,
    "timezone": TEXT,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<text>'[^']*'|\"[^\"]*\")|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<punct>[()\[\],])|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?))"
)
_WORDS = {"and", "or", "not", "in", "true", "false"}


class AudienceRuleError(ValueError):
    """The rule cannot be used; the message names the problem and where."""


@dataclass(frozen=True)
class _Compare:
    field: str
    key: str | None
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _Not:
    inner: Any


@dataclass(frozen=True)
class _Both:
    left: Any
    right: Any


@dataclass(frozen=True)
class _Either:
    left: Any
    right: Any


Node = _Compare | _Not | _Both | _Either


def _tokens(rule: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    at = 0
    while at < len(rule):
        if rule[at:].strip() == "":
            break
        match = _TOKEN.match(rule, at)
        if match is None or match.end() == at:
            raise AudienceRuleError(f"unexpected {rule[at:].strip()[:10]!r} at character {at + 1}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        start = match.start(kind)
        if kind == "name" and value.lower() in _WORDS:
            kind = value.lower()
        out.append((kind, value, start))
        at = match.end()
    return out


class _Parser:
    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.items = _tokens(rule)
        self.at = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self, kind: str | None = None) -> tuple[str, str, int]:
        item = self.peek()
        if item is None:
            raise AudienceRuleError(f"the rule ends too early: expected {kind or 'more'}")
        if kind is not None and item[0] != kind:
            raise AudienceRuleError(f"expected {kind} at character {item[2] + 1}, got {item[1]!r}")
        self.at += 1
        return item

    def rule_(self) -> Node:
        node = self.term()
        while (item := self.peek()) and item[0] == "or":
            self.take()
            node = _Either(node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while (item := self.peek()) and item[0] == "and":
            self.take()
            node = _Both(node, self.factor())
        return node

    def factor(self) -> Node:
        item = self.peek()
        if item and item[0] == "not":
            self.take()
            return _Not(self.factor())
        if item and item[1] == "(":
            self.take()
            node = self.rule_()
            self.take("punct")
            return node
        return self.comparison()

    def comparison(self) -> _Compare:
        _, name, position = self.take("name")
        field, _, key = name.partition(".")
        if not key and (item := self.peek()) and item[1] == "[":  # category_affinity['a > b']
            self.take()
            _, quoted, _ = self.take("text")
            key = quoted[1:-1]
            self.take("punct")
        if field == "category_affinity" and key:
            key = category_key(key) or key
        kind = FIELDS.get(field)
        if kind is None:
            known = ", ".join(sorted(FIELDS))
            raise AudienceRuleError(
                f"unknown field {field!r} at character {position + 1}; known fields: {known}"
            )
        if kind == MAP and not key:
            raise AudienceRuleError(f"{field} needs a key, e.g. {field}.USD")
        if kind != MAP and key:
            raise AudienceRuleError(f"{field} has no keys (got {name!r})")
        item = self.peek()
        if item and item[0] == "in":
            self.take()
            self.take("punct")
            values = [self.value()]
            while (item := self.peek()) and item[1] == ",":
                self.take()
                values.append(self.value())
            self.take("punct")
            return _Compare(field, key or None, "in", tuple(values))
        _, op, op_at = self.take("op")
        value = self.value()
        if kind != TEXT and not isinstance(value, int | float) and op not in ("==", "!="):
            raise AudienceRuleError(f"{field} is a number: compare it with a number")
        if kind == TEXT and op not in ("==", "!="):
            raise AudienceRuleError(f"{field} is text: use == or != (character {op_at + 1})")
        return _Compare(field, key or None, op, (value,))

    def value(self) -> Any:
        kind, text, position = self.take()
        if kind == "number":
            return float(text)
        if kind == "text":
            return text[1:-1]
        if kind in ("true", "false"):
            return kind == "true"
        raise AudienceRuleError(f"expected a value at character {position + 1}, got {text!r}")


def parse_rule(rule: str) -> Node:
    parser = _Parser(rule)
    node = parser.rule_()
    if (item := parser.peek()) is not None:
        raise AudienceRuleError(f"unexpected {item[1]!r} at character {item[2] + 1}")
    return node


def audiences_of(rules: Mapping[str, str], ctx: CustomerContext, now: datetime) -> frozenset[str]:
    """The names of the audiences (name -> rule) this customer is in now."""
    facts = audience_facts(ctx, now)
    return frozenset(name for name, rule in rules.items() if matches(parse_rule(rule), facts))


def check_rule(rule: str) -> str:
    """``rule`` if it parses, else AudienceRuleError (for validating the guardrails)."""
    parse_rule(rule)
    return rule


def matches(node: Node, facts: Mapping[str, Any]) -> bool:
    """Whether a customer with these facts is in the audience. A fact the customer does not
    have (no orders, no score yet) makes its comparison false, never an error."""
    if isinstance(node, _Not):
        return not matches(node.inner, facts)
    if isinstance(node, _Both):
        return matches(node.left, facts) and matches(node.right, facts)
    if isinstance(node, _Either):
        return matches(node.left, facts) or matches(node.right, facts)
    value = facts.get(node.field)
    if node.key is not None:
        value = value.get(node.key) if isinstance(value, Mapping) else None
    if value is None:
        return False
    if node.op == "in":
        return value in node.values
    wanted = node.values[0]
    try:
        return bool(
            {
                "<": lambda: value < wanted,
                "<=": lambda: value <= wanted,
                ">": lambda: value > wanted,
                ">=": lambda: value >= wanted,
                "==": lambda: value == wanted,
                "!=": lambda: value != wanted,
            }[node.op]()
        )
    except TypeError:
        return False


def audience_facts(ctx: CustomerContext, now: datetime) -> dict[str, Any]:
    """What a rule can say about this customer now."""
    orders = ctx.order_count
    return {
        **ctx.scores,
        "order_count": orders,
        "discounted_order_count": ctx.discounted_order_count,
        "refund_count": ctx.refund_count,
        "event_count": ctx.event_count,
        "recency_days": (now - ctx.last_order_at).total_seconds() / 86400
        if ctx.last_order_at
        else None,
        "days_since_seen": (now - ctx.last_seen_at).total_seconds() / 86400
        if ctx.last_seen_at
        else None,
        "cart_value": sum(line.quantity * (line.price or 0.0) for line in ctx.cart),
        "lifetime_value": dict(ctx.lifetime_value),
        "average_order_value": {c: v / orders for c, v in ctx.lifetime_value.items()}
        if orders
        else {},
        "category_affinity": {
            key: weight
            for name, weight in ctx.category_affinity.items()
            if (key := category_key(name))
        },
        "loyalty_tier": ctx.loyalty_tier,
        "locale": ctx.locale,
        "timezone": ctx.timezone,
    }
