"""What the running app holds: settings, database, sessions, guardrails, background workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.agent_setup import AgentRuntime, chat_model
from app.catalog_setup import embedding_function
from app.channel_set import ChannelSet
from app.copywriter import ModelCopyWriter
from app.product_lookup import CatalogProductLookup
from app.score_refit import refit_loop
from app.settings import Settings
from app.webchat.service import WebChat, WebChatConfig
from conversations.handler import ConversationHandler, HoldingReplyHandler
from conversations.worker import ConversationWorker, PipelineConfig
from policy.guardrails import Guardrails, load_guardrails
from policy.guardrails_versions import (
    StoredGuardrails,
    live_version,
    load_version,
    start_up_guardrails,
)
from policy.products import ProductLookup
from policy.triggers import update_timers
from profile_store import clock
from profile_store.database import create_engine, session_factory, transaction
from profile_store.group_commit import GroupCommitWriter
from profile_store.ingest import ValidatedEvent
from profile_store.models import Channel
from scheduler.channel_dispatch import ChannelDispatcher
from scheduler.dispatch import Dispatcher
from scheduler.distributed import DistributedScheduler
from scheduler.embedded import EmbeddedScheduler
from scheduler.links import TrackedLinks
from scheduler.shop_requests import ShopRequestWorker, ShopWebhook
from tools.agent_tools.shopper import ToolServices
from tools.catalog.store import Catalog

log = structlog.get_logger(__name__)
# How soon a guardrails change made by another process reaches this one.
GUARDRAILS_REFRESH_SECONDS = 2.0


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
    channels: ChannelSet
    conversations: ConversationWorker
    agent: AgentRuntime
    product_lookup: ProductLookup
    webchat: WebChat | None = None
    shop_requests: ShopRequestWorker | None = None
    guardrails_version: int | None = None
    _catalog: Catalog | None = None
    _catalog_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _refresh: asyncio.Task[None] | None = None
    _refit: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        write_key: str,
        dispatcher: Dispatcher | None = None,
        handler: ConversationHandler | None = None,
    ) -> Container:
        """Everything the app runs on; call inside the running event loop."""
        if settings.scheduler == "procrastinate" and not settings.is_postgres:
            raise ValueError(
                "CHATCOMMERCE_SCHEDULER=procrastinate needs PostgreSQL: set "
                "CHATCOMMERCE_DATABASE_URL=postgresql://…"
            )
        engine = create_engine(
            settings.sqlalchemy_url, busy_timeout=settings.sqlite_busy_timeout_seconds
        )
        sessions = session_factory(engine)
        guardrails = load_guardrails(settings.guardrails_file)
        embedding_function(settings)  # refuse to start with an unusable embeddings setting

        async def on_stored(
            session: AsyncSession, events: list[tuple[ValidatedEvent, str]]
        ) -> None:
            await update_timers(session, events, container.guardrails)

        def rules() -> Guardrails:
            return container.guardrails

        readers = session_factory(engine, read_only=True)
        product_lookup = CatalogProductLookup(lambda: container.catalog())
        webchat = (
            WebChat(sessions, readers, rules, WebChatConfig.from_settings(settings))
            if settings.webchat_enabled
            else None
        )
        channels = ChannelSet.from_settings(settings, webchat.adapter if webchat else None)
        services = ToolServices(
            readers,
            lambda: container.catalog(),
            rules,
            sessions,
            shop_requests=settings.shop_webhook_url is not None,
        )
        agent = AgentRuntime(settings, services, rules)
        container = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            readers=readers,
            write_key=write_key,
            guardrails=guardrails,
            event_writer=GroupCommitWriter(sessions, on_stored=on_stored),
            scheduler=_scheduler(
                settings,
                sessions,
                dispatcher or ChannelDispatcher(channels.adapters, rules),
                rules,
                # A stand-in dispatcher (tests, benchmarks) takes every channel; the real one
                # only those with credentials, so a channel that is off is never chosen.
                channels=None if dispatcher else channels.available,
                products=product_lookup,
                links=TrackedLinks(settings.public_url),
            ),
            channels=channels,
            conversations=ConversationWorker(
                sessions,
                channels.adapters,
                handler
                or (HoldingReplyHandler() if settings.conversation_handler == "holding" else agent),
                rules,
                pipeline_config(settings),
                readers,
            ),
            agent=agent,
            product_lookup=product_lookup,
            webchat=webchat,
        )
        container.shop_requests = shop_request_worker(settings, sessions)
        if settings.openai_api_key is not None:  # programs with copy: generated may use it
            container.scheduler.copywriter = ModelCopyWriter(chat_model(settings), rules)
        return container

    async def catalog(self) -> Catalog:
        """The product catalog, opened on first use (loading Chroma and the model takes a
        moment that API calls without products should not pay)."""
        async with self._catalog_lock:
            if self._catalog is None:
                self._catalog = await Catalog.open(
                    self.settings.data_dir,
                    self.settings.chroma_url,
                    embedding_function(self.settings),
                )
            return self._catalog

    async def load_guardrails(self) -> None:
        """The live guardrails version (the start-up file or demo document becomes one when
        there is none, or when the file changed).

        A database that is down or not yet migrated must not stop the app from starting (so
        `/readyz` can say what is wrong): the file's guardrails run meanwhile, and the refresh
        loop picks up the stored version once the database answers.
        """
        try:
            async with transaction(self.sessions) as session:
                stored = await start_up_guardrails(
                    session,
                    self.guardrails,
                    from_file=self.settings.guardrails_file is not None,
                    now=clock.now(),
                )
        except (OSError, DBAPIError) as exc:
            log.warning("guardrails.not_versioned", error=str(exc).splitlines()[0])
            return
        self.use_guardrails(stored)

    def use_guardrails(self, stored: StoredGuardrails) -> None:
        self.guardrails = stored.guardrails
        self.guardrails_version = stored.version

    async def refresh_guardrails(self) -> bool:
        """Pick up a version another process saved; True if it changed."""
        async with self.readers() as session:
            live = await live_version(session)
            if live is None or live == self.guardrails_version:
                return False
            stored = await load_version(session, live)
        if stored is None:
            return False
        self.use_guardrails(stored)
        return True

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(GUARDRAILS_REFRESH_SECONDS)
            try:
                await self.refresh_guardrails()
            except Exception:
                log.exception("guardrails.refresh_failed")

    def start(self, *, background: bool = True) -> None:
        """Start background work; call from inside the running event loop."""
        self.event_writer.start()
        if self.webchat is not None:
            self.webchat.start()  # streams are served here, whether or not workers run
        if background:
            self.scheduler.start()
            self.conversations.start()
            if self.shop_requests is not None:
                self.shop_requests.start()
            self._refresh = asyncio.create_task(self._refresh_loop(), name="guardrails-refresh")
            if self.settings.scores_refit_hours > 0:
                self._refit = asyncio.create_task(
                    refit_loop(self.sessions, self.settings.scores_refit_hours), name="scores-refit"
                )

    async def close(self) -> None:
        for task in (self._refresh, self._refit):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.conversations.stop()
        if self.shop_requests is not None:
            await self.shop_requests.stop()
        await self.scheduler.stop()
        if self.webchat is not None:
            await self.webchat.stop()
        await self.channels.close()
        await self.agent.close()
        await self.event_writer.stop()
        await self.engine.dispose()


def shop_request_worker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> ShopRequestWorker | None:
    """Order requests go to the shop only when it has a webhook; else they wait for a person."""
    if settings.shop_webhook_url is None:
        return None
    secret = settings.shop_webhook_secret.get_secret_value() if settings.shop_webhook_secret else ""
    webhook = ShopWebhook(
        settings.shop_webhook_url,
        secret,
        settings.shop_webhook_timeout_seconds,
        tuple(settings.shop_webhook_retry_seconds),
    )
    return ShopRequestWorker(sessions, webhook)


def pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(
        burst_window=timedelta(seconds=settings.conversation_burst_seconds),
        lease=timedelta(seconds=settings.conversation_lease_seconds),
        turn_timeout=timedelta(seconds=settings.conversation_turn_timeout_seconds),
        retry_delays=[timedelta(seconds=s) for s in settings.conversation_retry_seconds],
        concurrency=settings.conversation_concurrency,
        poll_seconds=settings.scheduler_poll_seconds,
    )


def _scheduler(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    rules: Callable[[], Guardrails],
    *,
    channels: frozenset[Channel] | None,
    products: ProductLookup,
    links: TrackedLinks,
) -> EmbeddedScheduler:
    if settings.scheduler == "procrastinate":
        return DistributedScheduler(
            sessions,
            dispatcher,
            rules,
            settings.sqlalchemy_url,
            poll_seconds=settings.scheduler_poll_seconds,
            channels=channels,
            products=products,
            links=links,
            readers=session_factory(sessions.kw["bind"], read_only=True),
        )
    return EmbeddedScheduler(
        sessions,
        dispatcher,
        rules,
        poll_seconds=settings.scheduler_poll_seconds,
        channels=channels,
        products=products,
        links=links,
        readers=session_factory(sessions.kw["bind"], read_only=True),
    )
