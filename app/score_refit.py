"""Refitting the scoring models: once from the CLI, or every few hours from the workers.

Several worker processes may run the loop; each refits only when the live fit is older than the
interval, so a shop gets about one fit per interval whatever the number of workers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from profile_store import clock
from profile_store.database import create_engine, session_factory, transaction
from profile_store.scoring.store import MODELS
from profile_store.scoring.train import FitReport, train

log = structlog.get_logger(__name__)
CHECK_SECONDS = 300.0


class ScoresNotReady(RuntimeError):
    """The database cannot hold scores yet; the message says what to do."""


async def train_once(sessions: async_sessionmaker[AsyncSession]) -> FitReport:
    async with transaction(sessions) as session:
        return await train(await session.connection(), clock.now())


async def refit_scores(settings: Settings) -> FitReport:
    engine = create_engine(
        settings.sqlalchemy_url, busy_timeout=settings.sqlite_busy_timeout_seconds
    )
    try:
        await _check_schema(engine)
        return await train_once(session_factory(engine))
    finally:
        await engine.dispose()


async def _check_schema(engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as conn:
            ready = await conn.run_sync(lambda sync: inspect(sync).has_table("score_models"))
    except OSError as exc:
        raise ScoresNotReady(f"cannot reach the database ({exc})") from exc
    if not ready:
        raise ScoresNotReady("the database has no score tables: run `chatcommerce db upgrade`")


async def refit_loop(sessions: async_sessionmaker[AsyncSession], hours: float) -> None:
    """Refit whenever the live fit is older than ``hours``; errors are logged, not fatal."""
    interval = timedelta(hours=hours)
    while True:
        await asyncio.sleep(min(CHECK_SECONDS, interval.total_seconds()))
        try:
            async with sessions() as session:
                conn = await session.connection()
                last = (await conn.execute(select(func.max(MODELS.c.fitted_at)))).scalar()
            if last is None or clock.now() - last >= interval:
                report = await train_once(sessions)
                log.info(
                    "scores.refitted",
                    version=report.version,
                    fitted=report.fitted,
                    customers=report.customers,
                )
        except Exception:
            log.exception("scores.refit_failed")
