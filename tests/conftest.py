"""Fixtures shared by every test: databases (SQLite and the real PostgreSQL), app, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.factory import create_app
from app.settings import Settings
from profile_store import clock
from profile_store.clock import ShiftedClock, use_clock
from profile_store.database import create_engine, session_factory
from tests.databases import PostgresTemplates, SqliteTemplate

WRITE_KEY = "test-write-key"
# Every test starts on a Thursday at 15:00 UTC (10:00 in New York), whatever the wall clock says,
# so quiet hours, windows and caps see the same hour at 03:00 as at noon. Time still passes.
TEST_START = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def move_clock(to: datetime) -> None:
    """Set the running test's clock to ``to`` (time goes on passing from there)."""
    current = clock.current()
    assert isinstance(current, ShiftedClock), "the test clock is not installed"
    current.set(to)


@pytest.fixture(autouse=True)
def test_clock() -> Iterator[ShiftedClock]:
    """The app's clock for this test; ``test_clock.set(...)`` moves it where a test needs."""
    with use_clock(ShiftedClock(TEST_START)) as installed:
        yield installed


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[PostgresTemplates]:
    templates = PostgresTemplates()
    yield templates
    templates.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[str]:
    """A migrated, empty database; every test using it runs once per backend."""
    if request.param == "sqlite":
        yield sqlite_template.create(tmp_path)
        return
    templates: PostgresTemplates = request.getfixturevalue("postgres_templates")
    url = templates.create()
    yield url
    templates.drop(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "var",
        database_url=database_url,
        write_key=WRITE_KEY,
        # Tests drive the trigger and send workers themselves (tests/scheduler), so nothing
        # runs behind an assertion's back.
        run_workers=False,
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, sending the write key."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
    ) as http:
        yield http
