"""Second-chance offers and relisting on the live page, in a real browser (Debian's Chromium
driven by Playwright): a pushed offer shows in the offers panel and is accepted there; an
unsold auction's page links to its relisted run."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import AuctionStatus
from madeinpk.timestamps import utc_now
from tests.integration.browser.pages import Chromium, open_page
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user
from tests.integration.orders.test_second_chance import missed_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


async def test_a_pushed_offer_shows_in_the_offers_panel_and_is_accepted_there(
    browser: Chromium, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, second = [await make_user(live_server.settings) for _ in range(2)]
    order_id, _ = await missed_order(live_server, seller, winner, (second, "2750.00"))
    watching = await make_auction(seller)
    page = await open_page(browser, live_server.url, watching, second)
    await expect(page.locator("#connection")).to_have_text("Live")
    await expect(page.locator("#offers")).to_be_hidden()
    made = await client.post(f"/api/orders/{order_id}/second_chance/", headers=seller.auth)
    assert made.status_code == 201, made.text
    offer = page.locator("#offer-list li")
    await expect(offer).to_contain_text(
        "Handwoven Pashmina Shawl at your highest bid, PKR 2,750.00"
    )
    await expect(page.locator("#alerts")).to_have_text("1")
    await offer.get_by_role("button", name="Accept").click()
    result = offer.locator(".offer-result")
    await expect(result).to_have_text(re.compile(r"^Accepted: order \d+ awaits your payment\.$"))
    answered = (await client.get(f"/api/offers/{made.json()['id']}/", headers=second.auth)).json()
    assert answered["status"] == "accepted"
    await expect(result).to_have_text(
        f"Accepted: order {answered['new_order']} awaits your payment."
    )
    await page.close()


async def test_an_unsold_auction_links_to_its_relisted_run(
    browser: Chromium, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    old = await make_auction(seller, status=AuctionStatus.ended, ends_in=-timedelta(hours=1))
    page = await open_page(browser, live_server.url, old, None)
    await expect(page.locator("#ended")).to_have_text("Auction ended with no bids.")
    await expect(page.locator("#relisted")).to_be_hidden()
    start = utc_now()
    times = {
        "start_time": start.isoformat().replace("+00:00", "Z"),
        "end_time": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }
    made = await client.post(f"/api/auctions/{old}/relist/", json=times, headers=seller.auth)
    assert made.status_code == 201, made.text
    await page.reload()
    link = page.locator("#relisted-link")
    await expect(link).to_have_text("This item was relisted: see the new auction")
    await expect(link).to_have_attribute("href", f"/auction/{made.json()['id']}")
    await link.click()
    await expect(page.locator("#countdown")).not_to_have_text("Ended")
    await expect(page.locator("#relisted")).to_be_hidden()
    await page.close()
