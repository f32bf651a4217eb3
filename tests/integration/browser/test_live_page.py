"""The live auction page in a real browser (Debian's Chromium driven by Playwright), against the
app in a real uvicorn server; the restart test runs it in a process of its own to kill.

On the embedded topology only one app process may serve an auction (its channels are in
memory), so the other tests use the suite's server rather than a second process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.timestamps import utc_now
from tests.integration.browser.pages import (
    Chromium,
    bid,
    open_list,
    open_page,
    save_screenshot,
    sign_in,
)
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user
from tests.integration.servers import WebServer

HOUR = timedelta(hours=1)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]


@pytest.fixture(scope="module")
def web_server(test_env: dict[str, str]) -> Iterator[WebServer]:
    server = WebServer(test_env)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def web(web_server: WebServer, live_server: LiveServer) -> WebServer:
    if web_server.process is None:
        web_server.start()
    await web_server.ready()
    return web_server


async def test_bids_appear_on_every_page_and_errors_stay_local(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    first = await make_user(live_server.settings)
    second = await make_user(live_server.settings)
    auction_id = await make_auction(seller, images=1)
    page_one = await open_page(browser, live_server.url, auction_id, first)
    page_two = await open_page(browser, live_server.url, auction_id, second)
    spectator = await open_page(browser, live_server.url, auction_id, None)

    await expect(page_one.locator("#current-price")).to_have_text("PKR 2,500.00")
    await bid(page_one, "3000")
    for page in (page_one, page_two, spectator):
        await expect(page.locator("#current-price")).to_have_text("PKR 3,000.00", timeout=1000)
        await expect(page.locator("#latest-bids li").first).to_contain_text(first.username)
        await expect(page.locator("#total-bids")).to_have_text("1")

    await bid(page_two, "2000")
    await expect(page_two.locator("#error")).to_have_text(
        "Bid must be higher than current price of 3000.00", timeout=1000
    )
    await expect(page_one.locator("#error")).to_be_hidden()
    await expect(spectator.locator("#error")).to_be_hidden()

    await expect(spectator.locator("#bid-button")).to_be_disabled()
    await expect(spectator.locator("#bid-hint")).to_contain_text("spectator")
    await expect(page_one.locator("#bid-amount")).to_have_attribute("min", "3000.01")
    await save_screenshot(page_one, "live-auction.png")


async def test_the_ended_banner_names_the_winner(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner = await make_user(live_server.settings)
    rival = await make_user(live_server.settings)
    auction_id = await make_auction(seller, ends_in=timedelta(hours=1))
    pages = [await open_page(browser, live_server.url, auction_id, u) for u in (winner, rival)]
    await bid(pages[0], "2600")
    await expect(pages[1].locator("#current-price")).to_have_text("PKR 2,600.00", timeout=1000)
    # End it only now: however slowly the pages opened, the bid came first.
    end = utc_now() + timedelta(seconds=1)
    await Auction.update({Auction.end_time: end}).where(Auction.id == auction_id)
    await live_server.schedule_auction_end(auction_id, end)
    for page in pages:
        banner = page.locator("#ended")
        await expect(banner).to_be_visible(timeout=15_000)
        await expect(banner).to_contain_text(f"Winner: {winner.username}")
        await expect(banner).to_contain_text("PKR 2,600.00")


async def test_the_page_reconnects_after_a_restart_with_current_data(
    browser: Chromium, web: WebServer, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    page = await open_page(browser, web.url, auction_id, None)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await expect(page.locator("#current-price")).to_have_text("PKR 2,500.00")  # the snapshot came
    web.kill()
    await expect(page.locator("#connection")).to_have_text("Disconnected", timeout=5000)
    web.start()
    await web.ready()
    async with httpx.AsyncClient(base_url=web.url) as http:  # a bid the page did not see live
        response = await http.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": 4321}, headers=buyer.auth
        )
        assert response.status_code == 201
    await expect(page.locator("#connection")).to_have_text("Live", timeout=20_000)
    await expect(page.locator("#current-price")).to_have_text("PKR 4,321.00", timeout=5000)
    # It asked for what it missed; the replayed bid is already in the snapshot, not counted twice.
    assert sockets and sockets[-1].endswith(f"/ws/auction/{auction_id}/?since_seq=0")
    await expect(page.locator("#total-bids")).to_have_text("1")
    await expect(page.locator("#latest-bids li")).to_have_count(1)


async def test_the_list_page_links_to_live_auctions_and_those_starting_soon(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller, images=1, name="Sindhi Ajrak")
    page = await open_list(browser, live_server.url)
    card = page.locator(f"a[href='/auction/{auction_id}']")
    await expect(card).to_contain_text("Sindhi Ajrak")
    await expect(card).to_contain_text("PKR 2,500.00")
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#soon")).to_be_hidden()  # nothing scheduled: no empty section

    # Scheduled auctions: not among the live ones, but under "Starting soon", soonest first,
    # each with its start time and a countdown, linking to its page.
    later = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=2 * HOUR, ends_in=3 * HOUR, name="Khussa"
    )
    sooner = await make_auction(
        seller,
        status=AuctionStatus.scheduled,
        starts_in=HOUR,
        ends_in=2 * HOUR,
        images=1,
        name="Multani Blue Pottery",
        starting_price="1800.00",
    )
    await page.reload()
    await expect(page.locator("#soon")).to_be_visible()
    await expect(page.locator("#soon-title")).to_have_text("Starting soon")
    soon = page.locator("#soon-list a")
    await expect(soon).to_have_count(2)
    assert [await a.get_attribute("href") for a in await soon.all()] == [
        f"/auction/{sooner}",
        f"/auction/{later}",
    ]
    await expect(page.locator("#auction-list a")).to_have_count(1)
    first = soon.first
    await expect(first).to_contain_text("Multani Blue Pottery")
    await expect(first.locator(".soon-price")).to_have_text("Starting price: PKR 1,800.00")
    await expect(first.locator(".starts-in")).to_have_text(
        re.compile(r"^Starts in (1h 00m 00s|0h 59m \d\ds)$")
    )
    row = await Auction.select(Auction.start_time).where(Auction.id == sooner).first()
    assert row is not None
    stamp = await first.locator(".starts-at time").get_attribute("datetime")
    assert stamp is not None
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == row["start_time"]
    await expect(first.locator(".starts-at")).to_contain_text("Starts:")
    await save_screenshot(page, "list-starting-soon.png")
    await first.click()
    await expect(page).to_have_url(f"{live_server.url}/auction/{sooner}")
    await expect(page.locator("#starts")).to_have_text(re.compile(r"^Starts in "))
    await page.context.close()


async def test_tabs_share_one_socket_stay_in_step_and_alert_an_outbid_buyer(
    browser: Chromium, live_server: LiveServer
) -> None:
    """Two tabs of one buyer on one auction: one auction socket and one alerts socket between
    them, both tabs in step, errors only where the bid was made; an outbid on another auction
    shows as a badge and a toast; closing the tab holding the socket hands it to the other."""
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    rival = await make_user(live_server.settings)
    here = await make_auction(seller, images=1)
    elsewhere = await make_auction(seller, name="Multani Blue Pottery")
    context = await browser.new_context()
    await sign_in(context, live_server.url, buyer)
    sockets: list[str] = []
    tabs = []
    for _ in range(2):
        tab = await context.new_page()
        tab.on("websocket", lambda ws: sockets.append(ws.url))
        await tab.goto(f"{live_server.url}/auction/{here}")
        await expect(tab.locator("#connection")).to_have_text("Live", timeout=10_000)
        tabs.append(tab)
    first, second = tabs
    assert len([u for u in sockets if "/ws/auction/" in u]) == 1, sockets
    assert len([u for u in sockets if "/ws/notifications/" in u]) == 1, sockets

    await bid(second, "3000")  # sent through the first tab's socket
    for tab in tabs:
        await expect(tab.locator("#current-price")).to_have_text("PKR 3,000.00", timeout=5000)
        await expect(tab.locator("#total-bids")).to_have_text("1")
    await bid(second, "2000")
    await expect(second.locator("#error")).to_contain_text("Bid must be higher", timeout=5000)
    await expect(first.locator("#error")).to_be_hidden()

    async with httpx.AsyncClient(base_url=live_server.url) as http:
        url = f"/api/auctions/{elsewhere}/place_bid/"
        assert (await http.post(url, json={"amount": 2600}, headers=buyer.auth)).is_success
        assert (await http.post(url, json={"amount": 2700}, headers=rival.auth)).is_success
    for tab in tabs:
        await expect(tab.locator("#alerts")).to_have_text("1", timeout=5000)
        toast = tab.locator(".toast").first
        await expect(toast).to_contain_text("You have been outbid")
        await expect(toast).to_contain_text("Multani Blue Pottery")
    await save_screenshot(second, "outbid-toast.png")

    await first.close()  # the tab holding both sockets: the other one opens them
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        url = f"/api/auctions/{here}/place_bid/"
        assert (await http.post(url, json={"amount": 3500}, headers=rival.auth)).is_success
    await expect(second.locator("#current-price")).to_have_text("PKR 3,500.00", timeout=10_000)
    await expect(second.locator("#connection")).to_have_text("Live")
    await expect(second.locator("#total-bids")).to_have_text("2")
    auction_sockets = [u for u in sockets if "/ws/auction/" in u]
    assert len(auction_sockets) == 2 and "since_seq=" in auction_sockets[1], auction_sockets
    await context.close()
