"""The live page's watch toggle in a real browser (Debian's Chromium driven by Playwright): the
count and your own watch, kept across a reload, a spectator's disabled button, and the
``auction_ending_soon`` reminder arriving as a toast."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from madeinpk.auctions.lifecycle.reminders import send_reminders
from tests.integration.browser.pages import Chromium, open_page
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def test_the_watch_toggle_shows_the_count_and_the_reminder_arrives_as_a_toast(
    browser: Chromium, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer, other = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller, ends_in=timedelta(minutes=30))
    path = f"/api/auctions/{auction_id}/watch/"
    assert (await client.post(path, headers=other.auth)).status_code == 201
    page = await open_page(browser, live_server.url, auction_id, buyer)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    button = page.locator("#watch-button")
    await expect(page.locator("#watch-count")).to_have_text("1 watching")
    await expect(button).to_have_text("Watch")
    await expect(button).to_have_attribute("aria-pressed", "false")
    await expect(spectator.locator("#watch-button")).to_be_disabled()
    await expect(spectator.locator("#watch-button")).to_have_text("Sign in to watch")

    await button.click()
    await expect(button).to_have_text("Watching ✓")
    await expect(button).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#watch-count")).to_have_text("2 watching")
    await page.reload()
    await expect(page.locator("#watch-button")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#watch-count")).to_have_text("2 watching")

    # The reminder (the app's reminders are off in the suite: sent here, pushed by the app).
    settings = dataclasses.replace(live_server.settings, ending_soon_minutes=60)
    reminded, done = await send_reminders(settings, [auction_id])
    assert reminded == [auction_id]
    live_server.effects.flush(done)
    toast = page.locator(".toast")
    await expect(toast).to_contain_text("Auction ending soon")
    await expect(toast).to_contain_text("ends in 30 minutes")
    await expect(toast.locator("a")).to_have_text("View auction")
    await expect(page.locator("#alerts")).to_have_text("1")

    await page.locator("#watch-button").click()
    await expect(page.locator("#watch-button")).to_have_text("Watch")
    await expect(page.locator("#watch-count")).to_have_text("1 watching")
    await spectator.reload()
    await expect(spectator.locator("#watch-count")).to_have_text("1 watching")
