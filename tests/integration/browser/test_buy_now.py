"""Buy It Now on the live page in a real browser (Debian's Chromium driven by Playwright): the
button while it is open, hidden once a bid closes it, two clicks to buy, and the ended view that
says the item was bought, on every page and after a reload."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from tests.integration.browser.pages import Chromium, bid, open_page
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def test_buy_it_now_shows_while_open_buys_in_two_clicks_and_ends_every_page(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    bidder = await make_user(live_server.settings)
    auction_id = await make_auction(seller, buy_now_price="5000.00", images=1)
    page = await open_page(browser, live_server.url, auction_id, buyer)
    other = await open_page(browser, live_server.url, auction_id, bidder)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    own = await open_page(browser, live_server.url, auction_id, seller)

    for each in (page, other, spectator):
        await expect(each.locator("#buy-now-button")).to_have_text("Buy It Now for PKR 5,000.00")
    await expect(page.locator("#buy-now-button")).to_be_enabled()
    await expect(spectator.locator("#buy-now-button")).to_be_disabled()
    await expect(spectator.locator("#buy-now-hint")).to_have_text("Sign in to buy it now.")
    await expect(own.locator("#buy-now")).to_be_hidden()  # the seller cannot buy

    await bid(other, "2600")  # below the Buy It Now price: it stays
    await expect(page.locator("#current-price")).to_have_text("PKR 2,600.00")
    await expect(page.locator("#buy-now")).to_be_visible()

    await page.click("#buy-now-button")  # the first click only asks
    await expect(page.locator("#buy-now-button")).to_have_text("Confirm: buy now for PKR 5,000.00")
    await expect(other.locator("#ended")).to_be_hidden()
    await page.click("#buy-now-button")
    await expect(page.locator("#ended")).to_have_text(
        re.compile(r"^You bought it with Buy It Now for PKR 5,000\.00\. Order AUC-[0-9A-F]{12}: ")
    )
    bought = f"Auction ended: bought with Buy It Now by {buyer.username} for PKR 5,000.00."
    for each in (other, spectator, own):
        await expect(each.locator("#ended")).to_have_text(bought)
    for each in (page, other, spectator, own):
        await expect(each.locator("#buy-now")).to_be_hidden()
    await other.reload()  # from auction_status alone
    await expect(other.locator("#ended")).to_have_text(bought)


async def test_the_button_goes_once_a_bid_closes_buy_it_now(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    bidder = await make_user(live_server.settings)
    plain = await make_auction(seller, buy_now_price="3000.00")
    reserved = await make_auction(seller, buy_now_price="6000.00", reserve_price="4000.00")
    none = await make_auction(seller)
    for auction_id, closing in ((plain, "3000"), (reserved, "4000")):
        page = await open_page(browser, live_server.url, auction_id, buyer)
        other = await open_page(browser, live_server.url, auction_id, bidder)
        await expect(page.locator("#buy-now")).to_be_visible()
        await bid(other, closing)  # reaches the price (no reserve) or the reserve
        await expect(page.locator("#current-price")).to_have_text(re.compile(closing[0]))
        await expect(page.locator("#buy-now")).to_be_hidden()
        await expect(other.locator("#buy-now")).to_be_hidden()
        await expect(page.locator("#ended")).to_be_hidden()  # still on: only Buy It Now went
    page = await open_page(browser, live_server.url, none, buyer)
    await expect(page.locator("#bid-button")).to_be_enabled()
    await expect(page.locator("#buy-now")).to_be_hidden()
