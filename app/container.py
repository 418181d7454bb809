"""What the running app holds: settings, database, sessions, guardrails, background workers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from policy.guardrails import Guardrails, load_guardrails
from policy.triggers import update_timers
from profile_store.database import create_engine, session_factory
from profile_store.group_commit import GroupCommitWriter
from profile_store.ingest import ValidatedEvent
from scheduler.dispatch import Dispatcher, NoChannelDispatcher
from scheduler.embedded import EmbeddedScheduler


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    write_key: str
    guardrails: Guardrails
    event_writer: GroupCommitWriter
    scheduler: EmbeddedScheduler

    @classmethod
    def build(
        cls, settings: Settings, write_key: str, dispatcher: Dispatcher | None = None
    ) -> Container:
        if settings.scheduler != "embedded":
            raise ValueError(
                f"CHATCOMMERCE_SCHEDULER={settings.scheduler!r} is not available yet; "
                "use 'embedded' (the procrastinate backend is still to come)"
            )
        engine = create_engine(settings.sqlalchemy_url)
        sessions = session_factory(engine)
        guardrails = load_guardrails(settings.guardrails_file)

        async def on_stored(
            session: AsyncSession, events: list[tuple[ValidatedEvent, str]]
        ) -> None:
            await update_timers(session, events, container.guardrails)

        container = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            readers=session_factory(engine, read_only=True),
            write_key=write_key,
            guardrails=guardrails,
            event_writer=GroupCommitWriter(sessions, on_stored=on_stored),
            scheduler=EmbeddedScheduler(
                sessions,
                dispatcher or NoChannelDispatcher(),
                lambda: container.guardrails,
                poll_seconds=settings.scheduler_poll_seconds,
            ),
        )
        return container

    def start(self, *, background: bool = True) -> None:
        """Start background work; call from inside the running event loop."""
        self.event_writer.start()
        if background:
            self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.event_writer.stop()
        await self.engine.dispose()
