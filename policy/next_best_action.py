"""Next-best-action: which eligible channel.

Channel: Thompson sampling over a Beta posterior of each channel's response rate (clicks and
replies per message sent), starting from a population prior, so a new customer gets the channel
that works for most people and a known one the channel that works for them, while every channel
keeps a chance to prove itself.

Send time is chosen in ``policy.send_time``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from profile_store.models import Channel


class BetaPrior(BaseModel):
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)


# Typical response rates of marketing messages per channel, as pseudo-counts worth 20 messages.
# Replaced by the shop's own population figures through population_prior().
DEFAULT_PRIORS: dict[Channel, BetaPrior] = {
    Channel.SMS: BetaPrior(alpha=1.0, beta=19.0),
    Channel.WHATSAPP: BetaPrior(alpha=2.0, beta=18.0),
    Channel.TELEGRAM: BetaPrior(alpha=1.5, beta=18.5),
    Channel.EMAIL: BetaPrior(alpha=0.5, beta=19.5),
    # Read only when the visitor comes back to the page.
    Channel.WEBCHAT: BetaPrior(alpha=0.5, beta=19.5),
}
PRIOR_WEIGHT = 20.0


class ChannelScore(BaseModel):
    channel: Channel
    alpha: float
    beta: float
    sampled: float


class ChannelChoice(BaseModel):
    channel: Channel
    scores: list[ChannelScore]


def responses(counts: Mapping[str, int]) -> tuple[int, int]:
    """(successes, failures) from one channel's engagement counters.

    Opens are not counted: SMS has none and WhatsApp reports them unreliably.
    """
    sent = counts.get("sent", 0)
    successes = min(counts.get("clicked", 0) + counts.get("replied", 0), sent)
    return successes, sent - successes


def population_prior(
    engagement_of_everyone: Sequence[Mapping[str, Mapping[str, int]]],
) -> dict[Channel, BetaPrior]:
    """A prior per channel from all customers' engagement, scaled to ``PRIOR_WEIGHT`` messages
    so one customer's own history soon outweighs it."""
    priors = dict(DEFAULT_PRIORS)
    for channel in Channel:
        successes = failures = 0
        for engagement in engagement_of_everyone:
            s, f = responses(engagement.get(channel.value, {}))
            successes, failures = successes + s, failures + f
        total = successes + failures
        if total >= PRIOR_WEIGHT:
            rate = min(max(successes / total, 0.001), 0.999)
            priors[channel] = BetaPrior(alpha=rate * PRIOR_WEIGHT, beta=(1 - rate) * PRIOR_WEIGHT)
    return priors


def choose_channel(
    eligible: Sequence[Channel],
    engagement: Mapping[str, Mapping[str, int]],
    priors: Mapping[Channel, BetaPrior],
    rng: random.Random,
) -> ChannelChoice:
    """Sample each eligible channel's response rate from its posterior; the highest wins."""
    if not eligible:
        raise ValueError("no eligible channel to choose from")
    scores = []
    for channel in eligible:
        prior = priors.get(channel, DEFAULT_PRIORS[channel])
        successes, failures = responses(engagement.get(channel.value, {}))
        alpha, beta = prior.alpha + successes, prior.beta + failures
        scores.append(
            ChannelScore(
                channel=channel, alpha=alpha, beta=beta, sampled=rng.betavariate(alpha, beta)
            )
        )
    best = max(scores, key=lambda s: s.sampled)
    return ChannelChoice(channel=best.channel, scores=scores)


def response_ratio(
    choice: ChannelChoice,
    priors: Mapping[Channel, BetaPrior],
    program_mix: Mapping[str, int],
) -> float:
    """How this customer's response rate on the chosen channel (their posterior mean) compares
    with what the program's messages got on average (the population rate of each channel,
    weighted by where the program's messages went). Bounded to 1/4..4: one click on a
    customer's first message says something, not everything."""
    score = next((s for s in choice.scores if s.channel == choice.channel), None)
    if score is None:
        return 1.0
    mine = score.alpha / (score.alpha + score.beta)

    def population(channel: Channel) -> float:
        prior = priors.get(channel, DEFAULT_PRIORS[channel])
        return prior.alpha / (prior.alpha + prior.beta)

    names = {c.value for c in Channel}
    known = {Channel(c): n for c, n in program_mix.items() if c in names}
    total = sum(known.values())
    average = (
        sum(n * population(c) for c, n in known.items()) / total
        if total
        else population(choice.channel)
    )
    return min(max(mine / average, 0.25), 4.0) if average > 0 else 1.0
