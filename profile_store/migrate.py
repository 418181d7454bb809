"""Alembic migrations, run programmatically so no alembic.ini has to sit beside the app."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """procrastinate owns its tables (migration 0003 applies its schema): comparisons and
    autogenerate leave them alone."""
    return not (name or "").startswith("procrastinate_")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Blocking: call it off the event loop."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    import asyncio

    from alembic.runtime.migration import MigrationContext

    from profile_store.database import create_engine

    async def read() -> str | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())
