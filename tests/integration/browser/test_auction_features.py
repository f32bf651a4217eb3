"""The live page's auction features in a real browser (Debian's Chromium driven by Playwright):
the minimum next bid and the increment, bidding with a maximum and being told who leads, an
automatic bid that outbids you, the countdown moving on ``auction_extended``, the reserve, the
automatic bids marked, and ``error.code``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from madeinpk.accounts.tables import Role
from tests.integration.browser.pages import Chromium, bid, open_page, save_screenshot
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def set_maximum(page: Page, maximum: str, amount: str = "") -> None:
    await page.fill("#bid-amount", amount)
    await page.fill("#max-amount", maximum)
    await page.click("#bid-button")


async def test_the_page_shows_the_minimum_next_bid_and_the_increment(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller, min_increment="100.00", images=1)
    page = await open_page(browser, live_server.url, auction_id, buyer)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    for each in (page, spectator):
        await expect(each.locator("#min-next-bid")).to_have_text("PKR 2,600.00")
        await expect(each.locator("#increment")).to_have_text("PKR 100.00")
    await expect(page.locator("#bid-amount")).to_have_attribute("min", "2600.00")
    await expect(page.locator("#bid-hint")).to_contain_text("Bid at least PKR 2,600.00")

    await bid(page, "2550")  # below the increment: error.code below_increment
    await expect(page.locator("#error")).to_have_text("Bid must be at least 2600.00")
    await expect(page.locator("#bid-amount")).to_have_attribute("aria-invalid", "true")
    await expect(spectator.locator("#error")).to_be_hidden()

    await bid(page, "2600")
    for each in (page, spectator):
        await expect(each.locator("#current-price")).to_have_text("PKR 2,600.00")
        await expect(each.locator("#min-next-bid")).to_have_text("PKR 2,700.00")
    await expect(page.locator("#my-status")).to_have_text("You are the highest bidder.")
    await expect(spectator.locator("#my-status")).to_be_hidden()

    plain = await make_auction(seller)
    page = await open_page(browser, live_server.url, plain, buyer)
    await expect(page.locator("#increment")).to_have_text("PKR 0.01")
    await expect(page.locator("#min-next-bid")).to_have_text("PKR 2,500.01")
    await expect(page.locator("#reserve")).to_be_hidden()


async def test_a_maximum_bids_automatically_and_each_page_says_who_leads(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    alice = await make_user(live_server.settings)
    bilal = await make_user(live_server.settings)
    auction_id = await make_auction(seller, min_increment="100.00", images=1)
    a_page = await open_page(browser, live_server.url, auction_id, alice)
    b_page = await open_page(browser, live_server.url, auction_id, bilal)
    spectator = await open_page(browser, live_server.url, auction_id, None)

    # Only a maximum: the page bids the minimum with it as the ceiling.
    await set_maximum(a_page, "3500")
    await expect(a_page.locator("#my-status")).to_have_text(
        "You are the highest bidder. Bidding automatically up to PKR 3,500.00."
    )
    await expect(b_page.locator("#current-price")).to_have_text("PKR 2,600.00")
    assert "3,500" not in await b_page.content() and "3500" not in await spectator.content()

    # Bilal bids; Alice's maximum answers at once, and Bilal's page says so.
    await bid(b_page, "2700")
    await expect(b_page.locator("#my-status")).to_contain_text("an automatic bid outbid you")
    await expect(b_page.locator("#my-status")).to_have_class(re.compile("outbid"))
    for page in (a_page, b_page, spectator):
        await expect(page.locator("#current-price")).to_have_text("PKR 2,800.00")
        first = page.locator("#latest-bids li").first
        await expect(first).to_contain_text(alice.username)
        await expect(first).to_contain_text("automatic")
        await expect(page.locator("#latest-bids li.auto")).to_have_count(1)
    await expect(a_page.locator("#my-status")).to_contain_text("You are the highest bidder.")

    # Bilal sets a higher maximum: he takes the lead; Alice is told she was outbid.
    await set_maximum(b_page, "5000")
    await expect(b_page.locator("#my-status")).to_have_text(
        "You are the highest bidder. Bidding automatically up to PKR 5,000.00."
    )
    await expect(a_page.locator("#my-status")).to_have_text(
        "You have been outbid: PKR 3,600.00. Bid at least PKR 3,700.00 to lead."
    )
    await expect(spectator.locator("#latest-bids li.auto")).to_have_count(2)

    # Alice bids within Bilal's maximum: an automatic bid outbids her the moment she bids.
    await bid(a_page, "4000")
    await expect(a_page.locator("#my-status")).to_have_text(
        "Your bid of PKR 4,000.00 was recorded, but an automatic bid outbid you at once: the "
        "price is now PKR 4,100.00."
    )

    # After a reload the marks and the lead come from the snapshot.
    await b_page.reload()
    await expect(b_page.locator("#latest-bids li.auto")).to_have_count(3)
    await expect(b_page.locator("#my-status")).to_have_text(
        "You are the highest bidder. Bidding automatically up to PKR 5,000.00."
    )
    await save_screenshot(b_page, "live-auction-proxy.png")


async def test_the_countdown_moves_when_the_auction_is_extended(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=40), soft_close_seconds=600)
    page = await open_page(browser, live_server.url, auction_id, buyer)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    await expect(page.locator("#countdown")).to_contain_text("0h 00m")
    await expect(page.locator("#soft-close")).to_contain_text("a bid in the last 600 s")
    await expect(page.locator("#extended")).to_be_hidden()
    await bid(page, "2600")
    for each in (page, spectator):
        await expect(each.locator("#extended")).to_contain_text("The auction was extended")
        # The end moved to the bid time + 600 s: ten minutes left, give or take the last one.
        await expect(each.locator("#countdown")).to_have_text(re.compile(r"^0h (09|10)m \d\ds$"))


async def test_the_reserve_shows_as_met_or_not_met(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller, reserve_price="3000.00")
    page = await open_page(browser, live_server.url, auction_id, buyer)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    for each in (page, spectator):
        await expect(each.locator("#reserve")).to_have_text("Reserve not met")
    assert "3,000" not in await spectator.content()  # the reserve itself stays secret
    await bid(page, "2800")
    await expect(spectator.locator("#current-price")).to_have_text("PKR 2,800.00")
    await expect(spectator.locator("#reserve")).to_have_text("Reserve not met")
    await bid(page, "3000")
    await expect(spectator.locator("#current-price")).to_have_text("PKR 3,000.00")
    for each in (page, spectator):
        await expect(each.locator("#reserve")).to_have_text("Reserve met")


async def test_error_codes_point_at_the_field_to_fix(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    page = await open_page(browser, live_server.url, auction_id, buyer)
    await set_maximum(page, "2900", amount="3000")  # invalid_max_amount
    await expect(page.locator("#error")).to_have_text("Maximum bid must be at least the bid amount")
    await expect(page.locator("#max-amount")).to_have_attribute("aria-invalid", "true")
    await bid(page, "2500")  # too_low
    await expect(page.locator("#error")).to_have_text(
        "Bid must be higher than current price of 2500.00"
    )
    await expect(page.locator("#bid-amount")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#max-amount")).not_to_have_attribute("aria-invalid", "true")
    own = await open_page(browser, live_server.url, auction_id, seller)
    await bid(own, "3000")  # own_auction: the message as the customer wrote it
    await expect(own.locator("#error")).to_have_text("You cannot bid on your own auction")
