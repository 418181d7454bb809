"""Web chat in a real headless Chromium (Debian's, driven by Playwright, launched as the console
tests do): the page at / with the offline agent, product cards, a quick reply, a reload that
keeps the history, a scheduled follow-up arriving in the open page, text that stays text, and
the widget embedded on another site (allowed, then refused)."""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from app.factory import create_app
from app.settings import Settings
from app.webchat.mailbox import SESSIONS
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.models import ScheduledSend
from tests.channels.conftest import EchoHandler, Shop
from tests.console.test_console_e2e import CHROMIUM, QUIET
from tests.fake_providers.server import serve
from tools.catalog.schema import Product, Variant

SENDS = ScheduledSend.__table__  # type: ignore[attr-defined]
# A 1x1 PNG: the product image, served by a stand-in for the shop's image host.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def shoes(images: str) -> list[Product]:
    return [
        Product(
            id="run-1",
            name="Storm Running Shoe",
            description="Light running shoe for road running.",
            category=["Shoes", "Running"],
            price=75,
            currency="USD",
            url="https://shop.example/p/run-1",
            image_url=f"{images}/run-1.png",
            variants=[Variant(sku="R1-42", size="42", stock=3)],
        ),
        Product(
            id="run-2",
            name="Summit Trail Runner",
            description="Grippy trail running shoe.",
            category=["Shoes", "Running"],
            price=129,
            currency="USD",
            url="https://shop.example/p/run-2",
        ),
    ]


async def _pixel(_: object) -> Response:
    return Response(PIXEL, media_type="image/png")


IMAGES = Starlette(routes=[Route("/{name}", _pixel)])


@contextlib.asynccontextmanager
async def opened(browser: Browser, url: str, **options: Any) -> AsyncIterator[Page]:
    """A page, closed however the test ends: an open event stream would hold the server."""
    page = await browser.new_page(**options)
    try:
        await page.goto(url)
        yield page
    finally:
        await page.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def answering(shop: Shop) -> AsyncIterator[Shop]:
    """The shop with the offline agent answering in the background, as `make run` does."""
    shop.container.conversations.handler = shop.container.agent
    shop.container.conversations.start()
    try:
        yield shop
    finally:
        await shop.container.conversations.stop()


async def test_a_newcomer_talks_to_the_bot_on_the_page(
    answering: Shop, browser: Browser, test_clock: ShiftedClock
) -> None:
    shop = answering
    async with (
        serve(IMAGES) as images,
        serve(shop.app) as url,
        opened(browser, url, locale="en-US") as page,
    ):
        await (await shop.container.catalog()).upsert(shoes(images))
        log = page.get_by_role("log", name="Messages")
        await expect(log).to_contain_text(shop.container.guardrails.webchat.greeting)
        await expect(page.get_by_role("button", name="Where is my order?")).to_be_visible()

        box = page.get_by_label("Your message")
        await box.fill("running shoes under 80")
        await box.press("Enter")
        products = page.get_by_role("list", name="Products")
        await expect(products).to_contain_text("Storm Running Shoe", timeout=20_000)
        await expect(products).to_contain_text("$75.00")
        await expect(products.get_by_role("img", name="Storm Running Shoe")).to_have_count(1)
        link = products.get_by_role("link", name="View Storm Running Shoe")
        await expect(link).to_have_attribute("href", "https://shop.example/p/run-1")
        await expect(link).to_have_attribute("target", "_blank")
        # The greeting's buttons are gone; the newest message's are offered.
        await expect(page.get_by_role("button", name="Where is my order?")).to_have_count(0)

        await page.get_by_role("button", name="Remind me tomorrow").click()
        await expect(box).to_be_focused()
        await expect(log).to_contain_text("remind you", timeout=20_000)
        await expect(page.get_by_role("status")).not_to_contain_text("typing")
        messages = await log.locator(".cc-msg").count()
        assert messages == 5  # greeting, search, cards, button press, confirmation

        await page.reload()
        await expect(log).to_contain_text("remind you")
        await expect(page.get_by_role("list", name="Products")).to_contain_text("Storm Running")
        await expect(log.locator(".cc-msg")).to_have_count(messages)
        await expect(log.locator(".cc-shopper")).to_contain_text(
            ["running shoes under 80", "Remind me tomorrow"]
        )

        # The reminder is due: the scheduler sends it and the open page shows it.
        test_clock.set(clock.now() + timedelta(days=1, hours=1))
        while await shop.container.scheduler.run_once():
            pass
        async with shop.container.readers() as session:
            conn = await session.connection()
            (reminder,) = (await conn.scalars(select(SENDS.c.payload))).all()
        await expect(log.locator(".cc-msg").last).to_contain_text(reminder["text"])
        await expect(log.locator(".cc-msg")).to_have_count(messages + 1)


async def test_text_from_anyone_stays_text(answering: Shop, browser: Browser) -> None:
    shop = answering
    shop.container.conversations.handler = EchoHandler()
    async with serve(shop.app) as url, opened(browser, url) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        hostile = '<img src=x onerror="alert(1)"><b>bold</b>'
        await page.get_by_label("Your message").fill(hostile)
        await page.get_by_role("button", name="Send").click()
        log = page.get_by_role("log", name="Messages")
        await expect(log).to_contain_text(f"echo: {hostile}")
        assert await log.locator("b, img[src=x]").count() == 0
        assert dialogs == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def shop_page(app_url: str) -> Starlette:
    """Another site embedding the widget, as a shop would."""
    html = (
        "<!doctype html><html lang='en'><head><title>Brand shop</title></head><body>"
        "<h1>Brand shop</h1>"
        f"<script src='{app_url}/webchat/widget.js' data-title='Brand help' "
        "data-anonymous-id='brand-visitor-000000000042' async></script></body></html>"
    )

    async def home(_: object) -> HTMLResponse:
        return HTMLResponse(html)

    return Starlette(routes=[Route("/", home)])


async def test_the_widget_works_embedded_on_an_allowed_site_only(
    settings: Settings, browser: Browser
) -> None:
    allowed_port, foreign_port = free_port(), free_port()
    app = create_app(
        Settings(
            _env_file=None,
            **settings.model_dump()
            | {
                "webchat_allowed_origins": [f"http://127.0.0.1:{allowed_port}"],
                "conversation_burst_seconds": 0.0,
            },
        ),
        handler=EchoHandler(),
    )
    async with app.router.lifespan_context(app), serve(app) as app_url:
        container = app.state.container
        container.conversations.start()
        try:
            async with (
                serve(shop_page(app_url), allowed_port) as brand_url,
                opened(browser, brand_url) as page,
            ):
                launcher = page.get_by_role("button", name="Chat with us")
                await expect(launcher).to_have_attribute("aria-expanded", "false")
                await launcher.click()
                await expect(page.get_by_role("button", name="Close chat").first).to_be_visible()
                box = page.get_by_label("Your message")
                await expect(box).to_be_focused()
                await box.fill("hello from the brand site")
                await box.press("Enter")
                log = page.get_by_role("log", name="Messages")
                await expect(log).to_contain_text("echo: hello from the brand site")
                await expect(log).to_contain_text("Brand help")
                await box.press("Escape")
                await expect(log).to_be_hidden()
                await expect(page.get_by_role("button", name="Chat with us")).to_be_focused()

            async with (
                serve(shop_page(app_url), foreign_port) as foreign_url,
                opened(browser, foreign_url) as page,
            ):
                await page.get_by_role("button", name="Chat with us").click()
                await expect(page.get_by_role("alert")).to_contain_text("not available")
        finally:
            await container.conversations.stop()
        async with container.readers() as session:
            conn = await session.connection()
            sessions = await conn.scalar(select(func.count()).select_from(SESSIONS))
        assert sessions == 1  # the foreign site opened none
