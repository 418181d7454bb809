"""Console access rules without a browser: sign-in required, bad tokens, forged forms."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.admin_tokens import Role
from app.console.session import COOKIE, csrf_token
from app.container import Container
from tests.admin_tokens import admin_headers


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


async def signed_in(app: FastAPI, http: httpx.AsyncClient) -> str:
    container: Container = app.state.container
    token = (await admin_headers(container, Role.MARKETER))["Authorization"].split()[1]
    response = await http.post("/console/sign-in", data={"token": token})
    assert response.status_code == 303 and response.headers["location"] == "/console?done=signed-in"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    return token


async def test_pages_need_sign_in_and_a_bad_token_is_named(app: FastAPI) -> None:
    async with client(app) as http:
        for path in ["/console", "/console/guardrails", "/console/approvals", "/console/reports"]:
            response = await http.get(path)
            assert response.status_code == 303 and response.headers["location"] == (
                "/console/sign-in"
            )
        bad = await http.post("/console/sign-in", data={"token": "cc_wrong"})
        assert bad.status_code == 401 and "not valid" in bad.text


async def test_every_page_renders_for_a_signed_in_marketer(app: FastAPI) -> None:
    async with client(app) as http:
        await signed_in(app, http)
        for path in [
            "/console",
            "/console/guardrails",
            "/console/approvals",
            "/console/order-requests",
            "/console/conversations",
            "/console/customers",
            "/console/customers?ref=%2B15550001111",
            "/console/reports?days=7",
        ]:
            response = await http.get(path)
            assert response.status_code == 200, path
            assert "<title>" in response.text
        missing = await http.get("/console/customers?ref=%2B15550001111")
        assert "No customer for" in missing.text


async def test_a_form_without_the_csrf_field_is_refused(app: FastAPI) -> None:
    async with client(app) as http:
        token = await signed_in(app, http)
        container: Container = app.state.container
        forged = await http.post(
            "/console/guardrails/tools", data={"tool": "search_products", "csrf": "nope"}
        )
        assert forged.status_code == 403 and "forged" in forged.text
        assert "offer_discount" in container.guardrails.agent.tools.enabled()
        real = await http.post(
            "/console/guardrails/tools",
            data={"tool": ["search_products", "get_profile"], "csrf": csrf_token(token)},
        )
        assert real.status_code == 303
        assert container.guardrails.agent.tools.enabled() == {"search_products", "get_profile"}
        assert container.guardrails_version == 2


async def test_invalid_yaml_is_reported_and_the_cookie_is_cleared_on_sign_out(
    app: FastAPI,
) -> None:
    async with client(app) as http:
        token = await signed_in(app, http)
        bad = await http.post(
            "/console/guardrails", data={"document": "quiet_hours: [", "csrf": csrf_token(token)}
        )
        assert bad.status_code == 422 and "not valid YAML" in bad.text
        out = await http.post("/console/sign-out", data={"csrf": csrf_token(token)})
        assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
        assert (await http.get("/console")).status_code == 303
