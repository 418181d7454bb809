"""The FastAPI application factory: one place that wires settings, storage and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.container import Container
from app.database_busy import answer_busy_with_503
from app.openapi import document_models
from app.routers import (
    admin,
    admin_config,
    admin_messages,
    admin_orders,
    admin_reports,
    catalog,
    console,
    decisions,
    discounts,
    events,
    health,
    links,
    profiles,
    webchat,
    webhooks,
)
from app.settings import Settings
from app.webchat.origins import WebChatOrigins
from app.write_key import resolve_write_key
from conversations.handler import ConversationHandler
from profile_store.schemas import EventIn
from scheduler.dispatch import Dispatcher
from tools.catalog.schema import Product

log = structlog.get_logger(__name__)
CONSOLE_STATIC = Path(__file__).parent / "console" / "static"


def create_app(
    settings: Settings | None = None,
    dispatcher: Dispatcher | None = None,
    handler: ConversationHandler | None = None,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        write_key, generated = resolve_write_key(settings)
        if generated:
            log.warning("write_key.generated", path=str(settings.data_dir / "write_key"))
        container = Container.build(settings, write_key, dispatcher, handler)
        await container.load_guardrails()
        container.start(background=settings.run_workers)
        app.state.container = container
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(
        title="ChatCommerce",
        version="0.1.0",
        summary="Agentic conversational commerce over a real-time unified customer profile.",
        lifespan=lifespan,
    )
    answer_busy_with_503(app, retry_after_seconds=settings.sqlite_busy_timeout_seconds)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(profiles.router)
    app.include_router(decisions.router)
    app.include_router(discounts.router)
    app.include_router(webhooks.router)
    app.include_router(catalog.router)
    app.include_router(admin.router)
    app.include_router(admin_config.router)
    app.include_router(admin_messages.router)
    app.include_router(admin_reports.router)
    app.include_router(admin_orders.router)
    app.include_router(console.router)
    app.include_router(links.router)
    app.include_router(webchat.router)
    app.add_middleware(WebChatOrigins, origins=settings.webchat_origins)
    app.mount("/console/static", StaticFiles(directory=CONSOLE_STATIC), name="console_static")
    document_models(app, EventIn, Product)
    return app
