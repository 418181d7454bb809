"""A Telegram message that arrives while another connection holds SQLite's write lock: stored
and answered if the lock comes free within the retries, else a 503 the provider retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.settings import Settings
from conversations.inbox import MESSAGES
from profile_store.database import BUSY_ATTEMPTS
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID, tg_text
from tests.databases import SqliteTemplate
from tests.sqlite_lock import Retries, first_of, write_lock_held

BUDGET = 0.3  # seconds a writer waits for the lock in these tests


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    return sqlite_template.create(tmp_path)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sqlite_busy_timeout_seconds": BUDGET})


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> Retries:
    return Retries(monkeypatch)


async def stored_messages(shop: Shop) -> int:
    async with shop.container.readers() as session:
        query = select(func.count()).select_from(MESSAGES).where(MESSAGES.c.direction == "in")
        return int((await (await session.connection()).execute(query)).scalar_one())


async def test_a_message_waits_out_a_lock_held_longer_than_one_busy_timeout(
    shop: Shop, database_url: str, retries: Retries
) -> None:
    with write_lock_held(database_url) as lock:
        webhook = asyncio.create_task(shop.telegram_update(tg_text(1, "rain jackets?")))
        await first_of(webhook, retries.first.wait())  # one whole try failed: a 500 until now
        assert not webhook.done(), webhook.exception()
        lock.release()
        response = await webhook
    assert response.status_code == 200
    assert retries.attempts == [1]
    assert await stored_messages(shop) == 1
    assert await shop.work() == 1
    assert [call.params["text"] for call in shop.telegram.sent] == ["echo: rain jackets?"]
    assert shop.telegram.sent[0].params["chat_id"] == str(CHAT_ID)


async def test_a_lock_held_past_every_try_is_a_503_and_the_providers_retry_is_answered(
    shop: Shop, database_url: str, retries: Retries
) -> None:
    with write_lock_held(database_url):
        busy = await shop.telegram_update(tg_text(2, "size 42?"))
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "database is busy" in busy.json()["detail"]
    assert len(retries.attempts) == BUSY_ATTEMPTS - 1
    assert await stored_messages(shop) == 0  # nothing acknowledged, nothing half-stored
    assert await shop.work() == 0
    again = await shop.telegram_update(tg_text(2, "size 42?"))  # Telegram sends it again
    assert again.status_code == 200
    assert await shop.work() == 1
    assert [call.params["text"] for call in shop.telegram.sent] == ["echo: size 42?"]
