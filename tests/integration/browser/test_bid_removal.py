"""Removing a bid on the live page, in a real browser (Debian's Chromium driven by Playwright), in
the style of ``test_auction_features.py``: on ``bid_removed`` the bid leaves the history, the
price, count and leader follow, and a bidder retracts its own bid with a button."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from tests.integration.browser.pages import Chromium, bid, open_page
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def test_a_removed_bid_leaves_the_page_and_a_bidder_retracts_its_own(
    browser: Chromium, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    settings = live_server.settings
    seller = await make_user(settings, role=Role.seller)
    ali, sara = await make_user(settings), await make_user(settings)
    staff = await make_user(settings, staff=True)
    auction_id = await make_auction(seller, min_increment="100.00", ends_in=timedelta(hours=2))
    page = await open_page(browser, live_server.url, auction_id, ali)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    await bid(page, "2600")
    await expect(page.locator("#my-status")).to_have_text("You are the highest bidder.")
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": "2700"}, headers=sara.auth
    )
    assert response.status_code == 201
    sara_bid = response.json()["id"]
    for each in (page, spectator):
        await expect(each.locator("#current-price")).to_have_text("PKR 2,700.00")
        await expect(each.locator("#latest-bids li").first).to_contain_text(sara.username)
    await expect(page.locator("#my-status")).to_contain_text("You have been outbid")

    removed = await client.post(f"/api/bids/{sara_bid}/remove/", headers=staff.auth)
    assert removed.status_code == 200, removed.text
    for each in (page, spectator):
        await expect(each.locator("#current-price")).to_have_text("PKR 2,600.00")
        await expect(each.locator("#total-bids")).to_have_text("1")
        await expect(each.locator("#min-next-bid")).to_have_text("PKR 2,700.00")
        await expect(each.locator("#latest-bids li")).to_have_count(1)
        await expect(each.locator("#latest-bids")).not_to_contain_text(sara.username)
        await expect(each.locator("#removed")).to_have_text(
            "A bid was removed. The price is now PKR 2,600.00."
        )
    await expect(page.locator("#my-status")).to_have_text("You are the highest bidder.")
    await expect(spectator.locator("#retract-button")).to_be_hidden()

    await page.click("#retract-button")  # within RETRACT_SECONDS (60 in the tests)
    for each in (page, spectator):
        await expect(each.locator("#current-price")).to_have_text("PKR 2,500.00")
        await expect(each.locator("#total-bids")).to_have_text("0")
        await expect(each.locator("#no-bids")).to_be_visible()
        await expect(each.locator("#removed")).to_have_text(
            "A bid was removed. There are no bids now."
        )
    await expect(page.locator("#retract-button")).to_be_hidden()
