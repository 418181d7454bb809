"""The admin API: tokens and roles, the guardrails as a validated, versioned, audited document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from typer.testing import CliRunner

from app.admin_tokens import Role
from app.cli import cli
from app.container import Container
from app.factory import create_app
from app.settings import Settings
from policy.guardrails import DEMO_GUARDRAILS, Guardrails
from tests.admin_tokens import admin_headers


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


@pytest.fixture
async def http(app: FastAPI) -> Any:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


async def test_every_admin_route_needs_a_valid_token(app: FastAPI, http: httpx.AsyncClient) -> None:
    paths = [
        path
        for path, methods in app.openapi()["paths"].items()
        if path.startswith("/admin/v1") and "get" in methods
    ]
    assert len(paths) >= 10
    for path in paths:
        response = await http.get(path.replace("{", "x").replace("}", ""))
        assert response.status_code == 401, path
        assert "chatcommerce tokens create" in response.json()["detail"]
    bad = await http.get("/admin/v1/guardrails", headers={"Authorization": "Bearer cc_nope"})
    assert bad.status_code == 401 and bad.json()["detail"] == "invalid or revoked admin token"


async def test_roles_marketers_configure_developers_also_manage_tokens(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    marketer = await admin_headers(container_of(app), Role.MARKETER, "maria")
    developer = await admin_headers(container_of(app), Role.DEVELOPER, "dev")
    assert (await http.get("/admin/v1/guardrails", headers=marketer)).status_code == 200
    denied = await http.get("/admin/v1/tokens", headers=marketer)
    assert denied.status_code == 403
    assert denied.json()["detail"] == "this needs the developer role; token 'maria' is marketer"
    assert (await http.get("/admin/v1/settings", headers=marketer)).status_code == 403

    created = await http.post(
        "/admin/v1/tokens", json={"name": "ci bot", "role": "marketer"}, headers=developer
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("cc_") and created.json()["prefix"] == token[:10]
    as_new = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/admin/v1/guardrails", headers=as_new)).status_code == 200
    listed = (await http.get("/admin/v1/tokens", headers=developer)).json()
    assert [t["name"] for t in listed] == ["maria", "dev", "ci bot"]
    assert all("token" not in t and "token_hash" not in t for t in listed)

    revoked = await http.delete(f"/admin/v1/tokens/{created.json()['id']}", headers=developer)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await http.get("/admin/v1/guardrails", headers=as_new)).status_code == 401

    settings = (await http.get("/admin/v1/settings", headers=developer)).json()
    assert settings["webhooks"]["telegram"].endswith("/webhooks/telegram")
    assert "write_key" not in str(settings) and settings["model"] == "offline planner"


async def test_an_invalid_document_is_refused_with_each_path_and_changes_nothing(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    headers = await admin_headers(container_of(app))
    before = (await http.get("/admin/v1/guardrails", headers=headers)).json()
    document = dict(before["document"])
    document["discounts"] = {**document["discounts"], "ceiling_by_tier": {"gold": 140}}
    document["frequency_caps"] = [{"max_messages": 3, "window": "-P1D"}]
    document["agent"] = {**document["agent"], "tools": {"offer_discount": {"enabeld": False}}}
    response = await http.put("/admin/v1/guardrails", json=document, headers=headers)
    assert response.status_code == 422
    body = response.json()["detail"]
    paths = {error["path"] for error in body["errors"]}
    assert paths == {
        "discounts.ceiling_by_tier.gold",
        "frequency_caps.0",
        "agent.tools.offer_discount.enabeld",
    }
    assert "running guardrails are unchanged" in body["detail"]
    after = (await http.get("/admin/v1/guardrails", headers=headers)).json()
    assert after["version"] == before["version"] == 1
    assert container_of(app).guardrails == Guardrails.model_validate(before["document"])


async def test_each_change_is_a_version_applied_at_once_and_old_ones_can_be_restored(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    headers = await admin_headers(container_of(app), name="maria")
    v1 = (await http.get("/admin/v1/guardrails", headers=headers)).json()
    assert (v1["version"], v1["source"]) == (1, "demo")
    document = {**v1["document"], "frequency_caps": [{"max_messages": 1, "window": "P1D"}]}
    v2 = await http.put("/admin/v1/guardrails?note=one a day", json=document, headers=headers)
    assert v2.status_code == 200 and v2.json()["version"] == 2
    assert container_of(app).guardrails.frequency_caps[0].max_messages == 1

    switched = await http.put(
        "/admin/v1/guardrails/tools/offer_discount", json={"enabled": False}, headers=headers
    )
    assert switched.json()["version"] == 3
    assert "offer_discount" not in container_of(app).guardrails.agent.tools.enabled()
    unknown = await http.put(
        "/admin/v1/guardrails/tools/teleport", json={"enabled": True}, headers=headers
    )
    assert unknown.status_code == 404 and "offer_discount" in unknown.json()["detail"]

    restored = await http.post("/admin/v1/guardrails/versions/1/restore", headers=headers)
    assert (restored.json()["version"], restored.json()["source"]) == (4, "restore:1")
    assert restored.json()["document"] == v1["document"]
    assert container_of(app).guardrails == Guardrails.model_validate(v1["document"])
    history = (await http.get("/admin/v1/guardrails/versions", headers=headers)).json()
    assert [(v["version"], v["note"]) for v in history] == [
        (4, "v1"),
        (3, "offer_discount off"),
        (2, "one a day"),
        (1, ""),
    ]
    old = await http.get("/admin/v1/guardrails/versions/2", headers=headers)
    assert old.json()["document"]["frequency_caps"][0]["max_messages"] == 1
    assert (await http.get("/admin/v1/guardrails/versions/99", headers=headers)).status_code == 404

    audit = (await http.get("/admin/v1/audit", headers=headers)).json()
    assert [entry["action"] for entry in audit] == ["guardrails.update"] * 3
    newest = audit[0]
    assert newest["actor"] == "maria" and newest["role"] == "marketer"
    assert newest["before"]["agent"]["tools"]["offer_discount"]["enabled"] is False
    assert newest["after"]["agent"]["tools"]["offer_discount"]["enabled"] is True


async def test_another_process_picks_up_a_new_version(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        headers = await admin_headers(container_of(first))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=first), base_url="http://testserver"
        ) as http:
            document = (await http.get("/admin/v1/guardrails", headers=headers)).json()["document"]
            document["quiet_hours"]["start"] = "20:00:00"
            assert (
                await http.put("/admin/v1/guardrails", json=document, headers=headers)
            ).is_success
        other = container_of(second)
        assert await other.refresh_guardrails()
        assert other.guardrails.quiet_hours.start.hour == 20 and other.guardrails_version == 2


async def test_a_guardrails_file_becomes_a_version_once_per_change(
    settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "guardrails.yaml"
    document = yaml.safe_load(DEMO_GUARDRAILS.read_text())
    file.write_text(yaml.safe_dump(document))
    with_file = settings.model_copy(update={"guardrails_file": file})

    async def start() -> tuple[int | None, str]:
        app = create_app(with_file)
        async with app.router.lifespan_context(app):
            container = container_of(app)
            return container.guardrails_version, container.guardrails.version_note

    assert await start() == (1, "demo defaults")
    assert await start() == (1, "demo defaults")  # same file, no new version
    document["version_note"] = "black friday"
    file.write_text(yaml.safe_dump(document))
    assert await start() == (2, "black friday")


async def test_the_lift_report_answers_for_an_empty_shop(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    headers = await admin_headers(container_of(app))
    report = await http.get("/admin/v1/reports/lift?days=7", headers=headers)
    assert report.status_code == 200 and report.json()["programs"] == []
    naive = await http.get("/admin/v1/reports/lift?until=2026-11-01T00:00:00", headers=headers)
    assert naive.status_code == 422


def test_tokens_create_prints_a_token_once(settings: Settings) -> None:
    env = {
        "CHATCOMMERCE_DATABASE_URL": settings.database_url or "",
        "CHATCOMMERCE_DATA_DIR": str(settings.data_dir),
    }
    result = CliRunner().invoke(cli, ["tokens", "create", "--role", "developer"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("cc_")
    wrong = CliRunner().invoke(cli, ["tokens", "create", "--role", "boss"], env=env)
    assert wrong.exit_code == 2 and "unknown role 'boss'" in wrong.output
