"""The agent as the app's conversation handler: model from settings, graph built on first use.

With ``CHATCOMMERCE_OPENAI_API_KEY`` set, any OpenAI-compatible endpoint answers
(``_OPENAI_BASE_URL``, ``_OPENAI_MODEL``); without it, the offline planner does. Conversation
memory is checkpointed per conversation: in ``checkpoints.sqlite`` under the data dir, or in the
PostgreSQL database when that is the database (so any API process can continue any thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
from langchain_core.language_models.chat_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.graph import Graph, build_graph
from agent.intents import local_classifier
from agent.planner import OfflinePlanner
from agent.shopper_context import ProfileContext
from agent.tools import build_tools
from app.agent_handler import AgentHandler
from app.settings import Settings
from conversations.handler import Reply, Turn
from policy.guardrails import Guardrails
from tools.agent_tools.shopper import ToolServices


def chat_model(settings: Settings, http_client: httpx.AsyncClient | None = None) -> BaseChatModel:
    """The configured model. With a key, it gets its own HTTP client (``http_client``, closed
    by its owner): langchain-openai's default one is shared by every instance in the process,
    and its pooled connections must not outlive the event loop that opened them."""
    if settings.openai_api_key is None:
        return OfflinePlanner(intents=local_classifier())
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
        streaming=settings.openai_streaming,
        timeout=settings.openai_timeout_seconds,
        max_retries=2,
        http_async_client=http_client or httpx.AsyncClient(),
    )


def checkpoint_url(settings: Settings) -> str:
    """The PostgreSQL URL in the plain form psycopg takes."""
    return settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def open_checkpointer(settings: Settings, stack: AsyncExitStack) -> BaseCheckpointSaver[Any]:
    if settings.is_postgres:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        postgres = await stack.enter_async_context(
            AsyncPostgresSaver.from_conn_string(checkpoint_url(settings))
        )
        await postgres.setup()  # idempotent: creates or migrates its own tables
        return postgres
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = str(settings.data_dir / "checkpoints.sqlite")
    # Another process (chatcommerce chat, worker) may be writing a checkpoint: wait for it as
    # long as for the main database, not the driver's default of 5 s.
    connect = aiosqlite.connect(path, timeout=settings.sqlite_busy_timeout_seconds)
    return AsyncSqliteSaver(await stack.enter_async_context(connect))


class AgentRuntime:
    """Opens the checkpointer and builds the graph on the first turn, closes them at shutdown."""

    def __init__(
        self, settings: Settings, services: ToolServices, rules: Callable[[], Guardrails]
    ) -> None:
        self._settings = settings
        self._services = services
        self._rules = rules
        self._stack = AsyncExitStack()
        self._handler: AgentHandler | None = None
        self._lock = asyncio.Lock()

    async def graph(self) -> Graph:
        return (await self.handler()).graph

    async def handler(self) -> AgentHandler:
        async with self._lock:
            if self._handler is None:
                checkpointer = await open_checkpointer(self._settings, self._stack)
                http_client = httpx.AsyncClient()
                self._stack.push_async_callback(http_client.aclose)
                model = await asyncio.to_thread(chat_model, self._settings, http_client)
                graph = build_graph(
                    model,
                    build_tools(self._services),
                    self._rules,
                    checkpointer,
                    shoppers=ProfileContext(self._services),
                )
                self._handler = AgentHandler(graph)
        return self._handler

    async def handle(self, turn: Turn) -> list[Reply]:
        return await (await self.handler()).handle(turn)

    async def close(self) -> None:
        await self._stack.aclose()
