"""Reading the live parameters and writing and reading customers' scores.

The live parameters are the newest ``score_models`` row. Ingestion asks for its id once per
batch (one indexed lookup) and re-reads the parameters only when another fit has landed, in
this process or another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from profile_store import clock
from profile_store.models import CustomerScore, ScoreModel
from profile_store.scoring.evaluate import score
from profile_store.scoring.features import history
from profile_store.scoring.params import PRIOR_PARAMS, ScoreModelParams
from profile_store.scoring.views import SCORE_NAMES, ScoreView
from profile_store.trait_store import load_traits
from profile_store.traits import TraitState

MODELS = ScoreModel.__table__  # type: ignore[attr-defined]
SCORES = CustomerScore.__table__  # type: ignore[attr-defined]
_cache: dict[tuple[str, int], ScoreModelParams] = {}  # (database, fit id)


async def live_params(conn: AsyncConnection) -> ScoreModelParams:
    newest = (await conn.execute(select(func.max(MODELS.c.id)))).scalar()
    if newest is None:
        return PRIOR_PARAMS
    key = (str(conn.engine.url), newest)
    if key not in _cache:
        row = (await conn.execute(select(MODELS.c.params).where(MODELS.c.id == newest))).one()
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = ScoreModelParams.model_validate(row.params)
    return _cache[key]


def score_traits(
    states: Iterable[TraitState], params: ScoreModelParams, now: datetime
) -> dict[str, dict[str, ScoreView]]:
    return {s.customer_id: score(history(s, now), params) for s in states}


async def save_scores(
    conn: AsyncConnection, scores: Mapping[str, Mapping[str, ScoreView]], now: datetime
) -> None:
    """Upsert, in customer id order (the same lock order as the traits)."""
    if not scores:
        return
    rows: list[dict[str, Any]] = [
        {
            "customer_id": cid,
            **{name: views[name].value for name in SCORE_NAMES},
            "details": {
                name: {
                    "explanation": views[name].explanation,
                    "model_version": views[name].model_version,
                }
                for name in SCORE_NAMES
            },
            "scored_at": now,
        }
        for cid, views in sorted(scores.items())
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SCORES)
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={c: statement.excluded[c] for c in rows[0] if c != "customer_id"},
    )
    await conn.execute(statement, rows)


async def load_scores(
    conn: AsyncConnection, customer_ids: Sequence[str]
) -> dict[str, dict[str, ScoreView]]:
    """Stored scores; customers never scored are absent."""
    if not customer_ids:
        return {}
    result = await conn.execute(select(SCORES).where(SCORES.c.customer_id.in_(customer_ids)))
    return {
        row.customer_id: {
            name: ScoreView(value=getattr(row, name), **row.details[name]) for name in SCORE_NAMES
        }
        for row in result
    }


async def current_scores(
    conn: AsyncConnection, traits: Mapping[str, TraitState | None], now: datetime
) -> dict[str, dict[str, ScoreView]]:
    """Stored scores, and for a customer never scored (before this table existed, or with no
    events) the scores their traits give under the live parameters now."""
    stored = await load_scores(conn, sorted(traits))
    missing = [cid for cid in traits if cid not in stored]
    if missing:
        params = await live_params(conn)
        for cid in missing:
            stored[cid] = score(history(traits[cid] or TraitState(customer_id=cid), now), params)
    return stored


async def customer_scores(session: AsyncSession, customer_id: str) -> dict[str, ScoreView]:
    """One customer's current scores (the console's customer page)."""
    conn = await session.connection()
    traits = await load_traits(session, [customer_id])
    return (await current_scores(conn, {customer_id: traits.get(customer_id)}, clock.now()))[
        customer_id
    ]
