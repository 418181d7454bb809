"""The reply guard: the last check before anything reaches the shopper, text and cards alike.

Whatever the shopper typed or a product description said, and whichever model answered, a reply
may not: mention a discount or code the offer tool did not grant in this conversation, repeat
the system prompt, touch a topic the marketer blocked, or show a phone number or e-mail address
other than the shopper's own. A reply that breaks a rule is replaced, not trimmed: a half-edited
sentence could still mislead.

Catalog text is judged apart from the agent's own words. A product name quoted in a reply or on
a card is the shop's data: it is cleaned (other people's contact data hidden, codes the policy
did not grant removed) but never makes the reply around it a violation, so one poisoned product
name cannot turn every answer it appears in into a discount refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from policy.guardrails import AgentConfig

DISCOUNT_WORDS = re.compile(
    r"\b(off|discount\w*|coupon\w*|promo\w*|voucher\w*|code|sale|save|saving\w*|deal)\b", re.I
)
PERCENT = re.compile(r"(\d{1,3}(?:[.,]\d+)?)\s*(?:%|percent\b|per\s+cent\b)", re.I)
CODE = re.compile(r"\b(?:code|coupon|voucher)\b\s*[:=]?\s*[\"'`*]*([A-Z0-9][A-Z0-9-]{3,})", re.I)
OUR_CODE = re.compile(r"\bCC-[0-9A-F]{8}\b")
# A promo-code-looking token in catalog text: FREE90, SAVE-20, VIP15, 30OFF.
STANDALONE_CODE = re.compile(
    r"\b(?:FREE|SAVE|OFF|PROMO|DEAL|GIFT|VIP|EXTRA|BONUS|DISCOUNT)[-_]?\d{1,3}\b|\b\d{1,3}OFF\b",
    re.I,
)
PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
WORD = re.compile(r"[a-z0-9']+")
LEAK_RUN = 8  # this many consecutive words of the system prompt in a reply is a leak

PROMPT_REFUSAL = "I can't share how I'm set up, but I'm happy to help you shop. What do you need?"
NO_DISCOUNT = (
    "I can't offer that discount. I'm happy to help you find something that fits your budget."
)


@dataclass(frozen=True)
class GrantedOffer:
    percent: float
    code: str


@dataclass(frozen=True)
class GuardInput:
    reply: str
    shopper_text: str
    system_prompt: str
    config: AgentConfig
    granted: list[GrantedOffer] = field(default_factory=list)
    own_addresses: frozenset[str] = frozenset()
    catalog_text: list[str] = field(default_factory=list)  # product names shown this turn


@dataclass(frozen=True)
class GuardResult:
    text: str
    violations: list[str]


def guard_reply(given: GuardInput) -> GuardResult:
    masked, names = _mask(given.reply, given.catalog_text)
    result = _guard_own_words(replace(given, reply=masked))
    violations = list(result.violations)
    text = result.text
    for marker, name in names.items():
        if marker in text:
            clean = clean_catalog_text(name, given.granted, given.own_addresses)
            if clean.violations:
                violations += [f"catalog:{v}" for v in clean.violations]
            text = text.replace(marker, clean.text)
    return GuardResult(text, violations)


def clean_catalog_text(
    text: str, granted: list[GrantedOffer], own_addresses: frozenset[str]
) -> GuardResult:
    """Catalog text as a shopper may see it: a code the policy did not grant removed, other
    people's phone numbers and e-mail addresses hidden. Percentages stay: "20% wool" and a
    shop's own sale price are facts about the product, not an offer by the agent."""
    violations: list[str] = []
    codes = {offer.code.upper() for offer in granted}

    def drop_code(match: re.Match[str]) -> str:
        if match.group(1).upper() in codes or not any(ch.isdigit() for ch in match.group(1)):
            return match.group(0)
        violations.append(f"unknown_code:{match.group(1)}")
        return "[removed]"

    def drop_ours(match: re.Match[str]) -> str:
        if match.group(0).upper() in codes:
            return match.group(0)
        violations.append(f"unknown_code:{match.group(0)}")
        return "[removed]"

    cleaned = OUR_CODE.sub(drop_ours, CODE.sub(drop_code, text))
    cleaned = STANDALONE_CODE.sub(
        lambda m: m.group(0) if m.group(0).upper() in codes else _removed(m, violations), cleaned
    )
    hidden = _hide_contacts(cleaned, own_addresses)
    return GuardResult(hidden.text, violations + hidden.violations)


def _removed(match: re.Match[str], violations: list[str]) -> str:
    violations.append(f"unknown_code:{match.group(0)}")
    return "[removed]"


def _mask(reply: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """Catalog names in the reply swapped for markers, longest first."""
    markers: dict[str, str] = {}
    for index, name in enumerate(sorted({n for n in names if len(n) > 2}, key=len, reverse=True)):
        if name in reply:
            marker = f"\x00{index}\x00"
            markers[marker] = name
            reply = reply.replace(name, marker)
    return reply, markers


def _guard_own_words(given: GuardInput) -> GuardResult:
    text = given.reply
    if _leaks_prompt(text, given.system_prompt):
        return GuardResult(PROMPT_REFUSAL, ["system_prompt_leak"])
    if topic := _blocked_topic(given):
        return GuardResult(given.config.blocked_topic_reply, [f"blocked_topic:{topic}"])
    if problem := _unbacked_offer(text, given.granted):
        return GuardResult(_best_offer_text(given.granted), [problem])
    return _hide_contacts(text, given.own_addresses)


def _hide_contacts(text: str, own_addresses: frozenset[str]) -> GuardResult:
    violations: list[str] = []
    own = {_digits(a) for a in own_addresses} | {a.lower() for a in own_addresses}

    def hide_phone(match: re.Match[str]) -> str:
        if _digits(match.group(0)) in own:
            return match.group(0)
        violations.append("foreign_phone")
        return "[hidden]"

    def hide_email(match: re.Match[str]) -> str:
        if match.group(0).lower() in own:
            return match.group(0)
        violations.append("foreign_email")
        return "[hidden]"

    text = EMAIL.sub(hide_email, PHONE.sub(hide_phone, text))
    return GuardResult(text, violations)


def _blocked_topic(given: GuardInput) -> str | None:
    for topic in given.config.blocked_topics:
        pattern = re.compile(rf"\b{re.escape(topic)}\b", re.I)
        if pattern.search(given.reply) or pattern.search(given.shopper_text):
            return topic
    return None


def _leaks_prompt(reply: str, prompt: str) -> bool:
    words = WORD.findall(prompt.lower())
    runs = {tuple(words[i : i + LEAK_RUN]) for i in range(len(words) - LEAK_RUN + 1)}
    said = WORD.findall(reply.lower())
    return any(tuple(said[i : i + LEAK_RUN]) in runs for i in range(len(said) - LEAK_RUN + 1))


def _unbacked_offer(reply: str, granted: list[GrantedOffer]) -> str | None:
    codes = {offer.code.upper() for offer in granted}
    for match in OUR_CODE.finditer(reply):
        if match.group(0).upper() not in codes:
            return f"unknown_code:{match.group(0)}"
    for match in CODE.finditer(reply):
        candidate = match.group(1).upper()
        if any(ch.isdigit() for ch in candidate) and candidate not in codes:
            return f"unknown_code:{candidate}"
    if DISCOUNT_WORDS.search(reply):
        percents = {round(offer.percent, 2) for offer in granted}
        for match in PERCENT.finditer(reply):
            value = round(float(match.group(1).replace(",", ".")), 2)
            if value not in percents:
                return f"ungranted_discount:{value:g}%"
    return None


def _best_offer_text(granted: list[GrantedOffer]) -> str:
    if not granted:
        return NO_DISCOUNT
    best = max(granted, key=lambda offer: offer.percent)
    return f"I can't offer more than that. Your code {best.code} gives you {best.percent:g}% off."


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)
