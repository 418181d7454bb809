"""What the running app holds: settings, database engine, sessions, writers, write key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from profile_store.database import create_engine, session_factory
from profile_store.group_commit import GroupCommitWriter


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    write_key: str
    event_writer: GroupCommitWriter

    @classmethod
    def build(cls, settings: Settings, write_key: str) -> Container:
        engine = create_engine(settings.sqlalchemy_url)
        sessions = session_factory(engine)
        readers = session_factory(engine, read_only=True)
        return cls(settings, engine, sessions, readers, write_key, GroupCommitWriter(sessions))

    def start(self) -> None:
        """Start background work; call from inside the running event loop."""
        self.event_writer.start()

    async def close(self) -> None:
        await self.event_writer.stop()
        await self.engine.dispose()
