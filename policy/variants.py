"""Which copy variant a program sends: Thompson sampling on how each variant did.

The same posterior machinery as the channel choice (:mod:`policy.next_best_action`): each
variant's response rate (the message was clicked, answered, or followed by an order within the
attribution window) has a Beta posterior from a flat prior and the variant's own sends; a draw
from each picks the variant, so a better variant wins more often while the others keep a chance
to prove themselves. Holdouts are unaffected: a held-out customer gets no variant at all.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policy.message_copy import MessageVariant
from policy.outcomes import DELIVERED, RESPONSES
from profile_store.models import Decision

DECISIONS = Decision.__table__  # type: ignore[attr-defined]
STATS_WINDOW = timedelta(days=90)


class VariantScore(BaseModel):
    variant: str
    sent: int
    responses: int
    sampled: float


class VariantChoice(BaseModel):
    variant: MessageVariant
    scores: list[VariantScore]


# (program, variant id) -> (messages sent, of which responded)
VariantStats = Mapping[tuple[str, str], tuple[int, int]]


def for_locale(
    variants: Sequence[MessageVariant], locale: str | None, default: str
) -> list[MessageVariant]:
    """The variants written for the shopper's locale (or its language), else the ones without
    a locale or in the default locale."""
    wanted = (locale or default).lower()
    language = wanted.split("-")[0]

    def spoken(variant: MessageVariant) -> str:
        return (variant.locale or "").lower()

    for chosen in (
        [v for v in variants if spoken(v) == wanted],
        [v for v in variants if spoken(v).split("-")[0] == language],
        [v for v in variants if v.locale is None or spoken(v) == default.lower()],
    ):
        if chosen:
            return chosen
    return list(variants)


def choose_variant(
    program: str, variants: Sequence[MessageVariant], stats: VariantStats, rng: random.Random
) -> VariantChoice:
    if not variants:
        raise ValueError(f"program {program!r} has no variant to choose from")
    scores = []
    for variant in variants:
        sent, responses = stats.get((program, variant.id), (0, 0))
        responses = min(responses, sent)
        draw = rng.betavariate(1 + responses, 1 + sent - responses)
        scores.append(
            VariantScore(variant=variant.id, sent=sent, responses=responses, sampled=draw)
        )
    best = max(range(len(variants)), key=lambda i: scores[i].sampled)
    return VariantChoice(variant=variants[best], scores=scores)


async def load_variant_stats(
    session: AsyncSession, now: datetime
) -> dict[tuple[str, str], tuple[int, int]]:
    """Sends and responses per program and variant over the last 90 days."""
    conn = await session.connection()
    responded = func.sum(case((DECISIONS.c.outcome.in_(sorted(RESPONSES)), 1), else_=0))
    rows = await conn.execute(
        select(DECISIONS.c.program, DECISIONS.c.variant, func.count(), responded)
        .where(
            DECISIONS.c.variant.is_not(None),
            DECISIONS.c.created_at > now - STATS_WINDOW,
            DECISIONS.c.outcome.in_(sorted(DELIVERED)),
        )
        .group_by(DECISIONS.c.program, DECISIONS.c.variant)
    )
    return {(row[0], row[1]): (int(row[2]), int(row[3] or 0)) for row in rows}
