"""A scheduled auction on the live page in a real browser (Debian's Chromium driven by
Playwright): "Starts in …" counting down with the bid form disabled, then, on
``auction_started``, the form enabled on every page without a reload, and bidding."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from madeinpk.after_commit import reschedule_start
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.timestamps import utc_now
from tests.integration.browser.pages import Chromium, bid, open_list, open_page
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def test_a_scheduled_auction_counts_down_then_opens_live(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    starts_in = timedelta(seconds=4)
    auction_id = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=starts_in, images=1
    )
    row = await Auction.select(Auction.start_time).where(Auction.id == auction_id).first()
    assert row is not None
    effects = live_server.effects
    await reschedule_start(effects.broker, effects.schedule_source, auction_id, row["start_time"])

    page = await open_page(browser, live_server.url, auction_id, buyer)
    spectator = await open_page(browser, live_server.url, auction_id, None)
    for each in (page, spectator):
        await expect(each.locator("#starts")).to_have_text(re.compile(r"^Starts in 0h 00m 0\ds$"))
        await expect(each.locator("#ended")).to_be_hidden()
    await expect(page.locator("#bid-form")).to_be_visible()
    await expect(page.locator("#bid-button")).to_be_disabled()
    await expect(page.locator("#bid-hint")).to_have_text("Bidding opens when the auction starts.")
    assert utc_now() < row["start_time"], "the page must have been seen before the start"

    # auction_started: enabled live, no reload.
    for each in (page, spectator):
        await expect(each.locator("#starts")).to_be_hidden(timeout=10_000)
    await expect(page.locator("#bid-button")).to_be_enabled()
    await expect(page.locator("#bid-hint")).to_contain_text("Bid at least PKR 2,500.01")
    await bid(page, "2600")
    for each in (page, spectator):
        await expect(each.locator("#current-price")).to_have_text("PKR 2,600.00")
    await expect(page.locator("#my-status")).to_have_text("You are the highest bidder.")


async def test_the_list_page_moves_an_auction_that_opens_to_the_live_list(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    live = await make_auction(seller, name="Sindhi Ajrak")
    opening = await make_auction(
        seller,
        status=AuctionStatus.scheduled,
        starts_in=timedelta(seconds=3),
        name="Multani Blue Pottery",
    )
    row = await Auction.select(Auction.start_time).where(Auction.id == opening).first()
    assert row is not None
    effects = live_server.effects
    await reschedule_start(effects.broker, effects.schedule_source, opening, row["start_time"])
    page = await open_list(browser, live_server.url)
    await expect(page.locator(f"#soon-list a[href='/auction/{opening}']")).to_be_visible()
    await expect(page.locator("#auction-list a")).to_have_count(1)
    assert utc_now() < row["start_time"], "the page must have been seen before the start"

    # On the second it opens: out of "Starting soon" (hidden, now empty), into the live list.
    await expect(page.locator("#soon")).to_be_hidden(timeout=10_000)
    hrefs = page.locator("#auction-list a")
    await expect(hrefs).to_have_count(2)
    assert {await a.get_attribute("href") for a in await hrefs.all()} == {
        f"/auction/{live}",
        f"/auction/{opening}",
    }
    await expect(page.locator("#list-status")).to_have_text("2 auctions open for bidding")
    await page.context.close()
