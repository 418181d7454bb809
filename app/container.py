"""What the running app holds: settings, database engine and session factory, write key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from profile_store.database import create_engine, session_factory


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    write_key: str

    @classmethod
    def build(cls, settings: Settings, write_key: str) -> Container:
        engine = create_engine(settings.sqlalchemy_url)
        return cls(settings, engine, session_factory(engine), write_key)

    async def close(self) -> None:
        await self.engine.dispose()
