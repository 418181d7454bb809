"""Channel by Thompson sampling."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from policy.next_best_action import (
    DEFAULT_PRIORS,
    BetaPrior,
    choose_channel,
    population_prior,
    response_ratio,
)
from profile_store.models import Channel

SMS, WA, TG = Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM


def picks(engagement: dict[str, dict[str, int]], n: int = 2000) -> Counter[Channel]:
    rng = random.Random(7)
    return Counter(
        choose_channel([SMS, WA, TG], engagement, DEFAULT_PRIORS, rng).channel for _ in range(n)
    )


def test_a_new_customer_follows_the_prior_but_explores() -> None:
    counts = picks({})
    assert counts.most_common(1)[0][0] == WA  # the best channel for most people
    assert all(counts[c] > 100 for c in (SMS, WA, TG))  # every channel keeps a chance


def test_a_customer_who_answers_on_sms_gets_sms() -> None:
    history = {
        "sms": {"sent": 12, "clicked": 5, "replied": 3},
        "whatsapp": {"sent": 10, "opened": 9, "clicked": 0, "replied": 0},
    }
    counts = picks(history)
    assert counts[SMS] > 0.9 * sum(counts.values())


def test_population_prior_comes_from_everyone() -> None:
    everyone = [{"telegram": {"sent": 10, "clicked": 4}}] * 10
    priors = population_prior(everyone)
    assert priors[TG].alpha / (priors[TG].alpha + priors[TG].beta) == pytest.approx(0.4)
    assert priors[TG].alpha + priors[TG].beta == pytest.approx(20)
    assert priors[SMS] == DEFAULT_PRIORS[SMS]  # too little data: keep the default
    assert picks({}, 500) != Counter()


def test_the_response_ratio_compares_the_customer_with_the_programs_messages() -> None:
    """WhatsApp answered twice as often as SMS by everyone; a program whose messages all went
    on SMS: a new customer reached on WhatsApp is worth about twice its average message, one
    who answered their SMS every time much more, but never past the bound."""
    priors = {**DEFAULT_PRIORS, SMS: BetaPrior(alpha=2, beta=18), WA: BetaPrior(alpha=4, beta=16)}
    new = choose_channel([WA], {}, priors, random.Random(1))
    assert response_ratio(new, priors, {"sms": 50}) == pytest.approx(2.0)
    assert response_ratio(new, priors, {"sms": 50, "whatsapp": 50}) == pytest.approx(4 / 3)
    # No message yet to compare with: the channel's own population rate.
    assert response_ratio(new, priors, {}) == pytest.approx(1.0)
    keen = choose_channel([SMS], {"sms": {"sent": 6, "clicked": 6}}, priors, random.Random(1))
    assert response_ratio(keen, priors, {"sms": 50}) == pytest.approx((8 / 26) / 0.1)
    silent = choose_channel([SMS], {"sms": {"sent": 60, "clicked": 0}}, priors, random.Random(1))
    assert response_ratio(silent, priors, {"sms": 50}) == 0.25


def test_no_eligible_channel_is_an_error() -> None:
    with pytest.raises(ValueError, match="no eligible channel"):
        choose_channel([], {}, DEFAULT_PRIORS, random.Random(1))
