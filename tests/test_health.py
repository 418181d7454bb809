"""Probes: liveness always, readiness only when the database answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.factory import create_app
from app.settings import Settings


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        write_key="k",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert "unreachable" in response.json()["database"]


async def test_generated_write_key_is_kept_across_restarts(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    keys = []
    for _ in range(2):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            keys.append(app.state.container.write_key)
    assert keys[0] == keys[1]
    assert keys[0].startswith("wk_")
    assert (tmp_path / "write_key").stat().st_mode & 0o077 == 0


async def test_procrastinate_on_sqlite_stops_start_up_with_a_reason(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        write_key="k",
        scheduler="procrastinate",
    )
    app = create_app(settings)
    with pytest.raises(ValueError, match="procrastinate needs PostgreSQL"):
        async with app.router.lifespan_context(app):
            pass


async def test_bad_guardrails_file_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "guardrails.yaml"
    rules.write_text("quiet_hours:\n  start: '25:00'\n")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        write_key="k",
        guardrails_file=rules,
    )
    app = create_app(settings)
    with pytest.raises(ValueError, match=r"quiet_hours\.start"):
        async with app.router.lifespan_context(app):
            pass
