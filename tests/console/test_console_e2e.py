"""The console end to end in a real headless Chromium (Debian's, driven by Playwright): sign in,
change a frequency cap and see the next decision obey it, approve a discount and see the
shopper's reply reach the (fake) Telegram API, take a conversation over and reply as a person.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from app.admin_tokens import Role, create_token
from profile_store import clock
from profile_store.clock import ShiftedClock
from profile_store.database import transaction
from tests.agent.test_agent_actions import Chat
from tests.channels.conftest import Shop
from tests.channels.test_inbound_pipeline import CHAT_ID, tg_text
from tests.conftest import TEST_START
from tests.fake_providers.server import serve

CHROMIUM = Path(os.environ.get("CHATCOMMERCE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without these, Chromium keeps trying to reach Google's hosts, which this network refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def console(shop: Shop, browser: Browser) -> AsyncIterator[Page]:
    """A signed-in marketer's page on the app served on a real port."""
    async with transaction(shop.container.sessions) as session:
        _, token = await create_token(
            session, name="maria@shop.example", role=Role.MARKETER, now=clock.now()
        )
    async with serve(shop.app) as url:
        page = await browser.new_page(base_url=url)
        await page.goto("/console")
        await expect(page).to_have_url(f"{url}/console/sign-in")
        await page.fill("#token", token)
        await page.click("button[type=submit]")
        await expect(page.get_by_role("status")).to_have_text("Welcome back.")
        yield page
        await page.close()


@pytest.mark.parametrize("hour", [time(15, 0), time(22, 30), time(3, 0)], ids=str)
async def test_a_frequency_cap_changed_in_the_console_holds_for_the_next_decision(
    shop: Shop, console: Page, test_clock: ShiftedClock, hour: time
) -> None:
    # At any hour of the day (the demo's quiet hours are 21:00-09:00 UTC).
    test_clock.set(datetime.combine(TEST_START.date(), hour, UTC))
    # Ann has opted in to marketing on Telegram and leaves a cart.
    now = clock.now()
    who = {"telegram_id": str(CHAT_ID)}
    events = [
        {
            "event_id": "consent",
            "type": "consent_changed",
            "customer": who,
            "properties": {"channel": "telegram", "purpose": "marketing", "status": "granted"},
            "occurred_at": (now - timedelta(hours=1)).isoformat(),
        },
        {
            "event_id": "cart",
            "type": "added_to_cart",
            "customer": who,
            "properties": {"product_id": "boot-1", "price": 120.0, "currency": "USD"},
            "occurred_at": now.isoformat(),
        },
    ]
    auth = {"Authorization": f"Bearer {shop.container.write_key}"}
    assert (await shop.http.post("/v1/events", json={"batch": events}, headers=auth)).is_success

    await console.goto("/console/guardrails")
    editor = console.locator("#document")
    document = await editor.input_value()
    assert "max_messages: 3" in document
    assert "holdout_percent: 10.0" in document
    # No marketing this week, and no holdout to blur the test: Ann's bucket is random.
    edited = document.replace("max_messages: 3", "max_messages: 0")
    await editor.fill(edited.replace("holdout_percent: 10.0", "holdout_percent: 0.0"))
    await console.fill("input[name=note]", "no marketing this week")
    await console.click("text=Save as a new version")
    await expect(console.get_by_role("status")).to_contain_text("Saved")
    await expect(console.locator("h1 .pill")).to_have_text("v2")
    assert shop.container.guardrails.frequency_caps[0].max_messages == 0

    # The cart reminder's window passes: the decision obeys the new cap.
    await shop.container.scheduler.run_once(now + timedelta(hours=3))
    await console.goto(f"/console/customers?ref=telegram_id:{CHAT_ID}")
    row = console.locator("#decisions tr", has_text="cart_abandoned")
    await expect(row).to_contain_text("suppressed")
    await expect(row).to_contain_text("frequency_cap")
    await expect(row).to_contain_text("the cap is 0")


async def test_an_invalid_edit_shows_each_problem_and_changes_nothing(
    shop: Shop, console: Page
) -> None:
    await console.goto("/console/guardrails")
    editor = console.locator("#document")
    document = await editor.input_value()
    await editor.fill(document.replace("gold: 20", "gold: 200"))
    await console.click("text=Save as a new version")
    alert = console.get_by_role("alert")
    await expect(alert).to_contain_text("discounts.ceiling_by_tier.gold")
    await expect(alert).to_contain_text("less than or equal to 100")
    await expect(console.locator("h1 .pill")).to_have_text("v1")
    assert "gold: 200" in await editor.input_value()  # the marketer's text is kept to fix
    assert shop.container.guardrails.discounts.ceiling("gold") == 20


async def test_approving_a_discount_in_the_console_answers_the_shopper(
    shop: Shop, console: Page
) -> None:
    chat = Chat(shop)
    await chat.set_tier("gold")
    assert "approve" in await chat.say("could I have 18% off please")

    await console.goto("/console/approvals")
    card = console.locator(".approval")
    await expect(card).to_contain_text("18% off")
    before = len(shop.telegram.sent)
    await card.locator("input[name=note]").fill("loyal customer")
    await card.get_by_role("button", name="Approve").click()
    await expect(console.get_by_role("status")).to_contain_text("Approved")
    await expect(console.locator("table")).to_contain_text("loyal customer")

    await shop.work()
    (sent,) = shop.telegram.sent[before:]
    assert "18% off" in sent.params["text"] and "CC-" in sent.params["text"]


async def test_take_over_and_reply_as_a_person(shop: Shop, console: Page) -> None:
    await shop.telegram_update(tg_text(1, "my parcel arrived damaged"))
    await shop.work()
    await console.goto("/console/conversations")
    await console.get_by_role("link", name=str(CHAT_ID)).click()
    await expect(console.locator(".thread")).to_contain_text("my parcel arrived damaged")
    await console.get_by_role("button", name="Take over").click()
    await expect(console.locator("#owner")).to_have_text("human")

    await shop.telegram_update(tg_text(2, "hello?"))
    await shop.work()
    before = len(shop.telegram.sent)  # the bot stayed silent
    await console.fill("#reply", "So sorry, Ada! A replacement ships today.")
    await console.get_by_role("button", name="Send").click()
    await expect(console.get_by_role("status")).to_have_text("Sent.")
    await shop.work()
    (sent,) = shop.telegram.sent[before:]
    assert sent.params["text"] == "So sorry, Ada! A replacement ships today."
    await console.reload()
    await expect(console.locator(".thread")).to_contain_text("maria@shop.example · sent")
