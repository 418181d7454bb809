"""A shop under simulated time: events through the API, workers driven step by step.

The app's clock follows the story: events are posted at the moment they happen (the clock moves
to the latest ``occurred_at``) and ``run(now)`` moves it to ``now``, so whatever the app reads
from the clock (the trigger horizon, lease times) agrees with the time the test is telling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.container import Container
from app.factory import create_app
from app.settings import Settings
from profile_store import clock
from scheduler.dispatch import DispatchResult, OutboundSend
from tests.conftest import WRITE_KEY, move_clock


@dataclass
class RecordingDispatcher:
    """Stands in for the channel adapters: records what would reach the provider."""

    sent: list[OutboundSend] = field(default_factory=list)

    async def dispatch(self, send: OutboundSend) -> DispatchResult:
        self.sent.append(send)
        return DispatchResult(ok=True, provider_message_id=f"prov-{len(self.sent)}")


@dataclass
class Shop:
    client: httpx.AsyncClient
    container: Container
    outbox: RecordingDispatcher

    async def post(self, *events: dict[str, Any]) -> None:
        latest = max(datetime.fromisoformat(str(e["occurred_at"])) for e in events)
        if latest > clock.now():
            move_clock(latest)
        response = await self.client.post("/v1/events", json={"batch": list(events)})
        assert response.status_code == 200, response.text

    async def run(self, now: datetime) -> None:
        """Let the workers catch up with ``now``."""
        move_clock(now)
        while await self.container.scheduler.run_once(now):
            pass

    async def decisions(self, ref: str) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/decisions", params={"customer": ref})
        assert response.status_code == 200, response.text
        return list(reversed(response.json()))  # oldest first


@asynccontextmanager
async def running_shop(settings: Settings, outbox: RecordingDispatcher) -> AsyncIterator[Shop]:
    """The app with its workers stopped, so tests move time themselves."""
    manual = settings.model_copy(update={"run_workers": False})
    app: FastAPI = create_app(manual, outbox)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {WRITE_KEY}"},
        ) as client,
    ):
        container: Container = app.state.container
        # No holdouts unless a test asks: customer ids are random, buckets would be too.
        rules = container.guardrails
        # Nor a cost per message: these stories are about the rules, not about whether a
        # cheap cap is worth a message (tests/policy/test_action_choice.py is).
        container.guardrails = rules.model_copy(
            update={
                "programs": {
                    name: program.model_copy(update={"holdout_percent": 0})
                    for name, program in rules.programs.items()
                },
                "decisioning": rules.decisioning.model_copy(update={"message_cost": 0.0}),
            }
        )
        yield Shop(client, container, outbox)


@pytest.fixture
async def shop(settings: Settings) -> AsyncIterator[Shop]:
    async with running_shop(settings, RecordingDispatcher()) as running:
        yield running


@pytest.fixture
async def stocked(shop: Shop) -> Shop:
    """The shop with the small test catalog (tests/scheduler/catalog.py)."""
    from tests.scheduler.catalog import stock

    await stock(shop)
    return shop
