"""The agent as the app's conversation handler: model from settings, graph built on first use.

With ``CHATCOMMERCE_OPENAI_API_KEY`` set, any OpenAI-compatible endpoint answers
(``_OPENAI_BASE_URL``, ``_OPENAI_MODEL``); without it, the offline planner does. Conversation
memory is checkpointed per conversation in ``checkpoints.sqlite`` under the data dir.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from langchain_core.language_models.chat_models import BaseChatModel
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.graph import build_graph
from agent.planner import OfflinePlanner
from agent.tools import build_tools
from app.agent_handler import AgentHandler
from app.settings import Settings
from conversations.handler import Reply, Turn
from tools.agent_tools.shopper import ToolServices


def chat_model(settings: Settings) -> BaseChatModel:
    if settings.openai_api_key is None:
        return OfflinePlanner()
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
    )


class AgentRuntime:
    """Opens the checkpointer and builds the graph on the first turn, closes them at shutdown."""

    def __init__(self, settings: Settings, services: ToolServices) -> None:
        self._settings = settings
        self._services = services
        self._stack = AsyncExitStack()
        self._handler: AgentHandler | None = None
        self._lock = asyncio.Lock()

    async def handle(self, turn: Turn) -> list[Reply]:
        async with self._lock:
            if self._handler is None:
                self._settings.data_dir.mkdir(parents=True, exist_ok=True)
                path = str(self._settings.data_dir / "checkpoints.sqlite")
                checkpointer = await self._stack.enter_async_context(
                    AsyncSqliteSaver.from_conn_string(path)
                )
                graph = build_graph(
                    chat_model(self._settings), build_tools(self._services), checkpointer
                )
                self._handler = AgentHandler(graph)
        return await self._handler.handle(turn)

    async def close(self) -> None:
        await self._stack.aclose()
