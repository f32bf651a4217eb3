"""The live page in Urdu in a real browser (Debian's Chromium driven by Playwright): it follows
the browser's language, is laid out right to left, shows Urdu labels and amounts grouped the
Pakistani way (Buy It Now, the watch toggle, retracting and the search box too), words a
refused bid's code in Urdu, and its language switch works, persists and is saved to the
signed-in user's profile."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from madeinpk.accounts.tables import Role, UserProfile
from madeinpk.auctions.tables import AuctionStatus
from tests.integration.browser.pages import Chromium, bid, open_page, save_screenshot
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("task_worker", "task_scheduler")]

DAY = timedelta(days=1)


async def test_the_page_in_urdu_is_right_to_left_with_urdu_labels_and_lakh_grouping(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(
        seller, starting_price="150000.00", min_increment="2500.00", buy_now_price="500000.00"
    )
    page = await open_page(browser, live_server.url, auction_id, buyer, locale="ur-PK")

    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "ur")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(page.locator("#connection")).to_have_text("براہِ راست")
    await expect(page.locator("dt").first).to_have_text("ابتدائی قیمت")
    await expect(page.locator("#bid-button")).to_have_text("بولی لگائیں")
    await expect(page.locator("#condition")).to_have_text("نئی")
    await expect(page.locator("#starting-price")).to_have_text("1,50,000.00 روپے")
    await expect(page.locator("#min-next-bid")).to_have_text("1,52,500.00 روپے")
    await expect(page.locator("#no-bids")).to_have_text("ابھی کوئی بولی نہیں۔ پہلی بولی آپ لگائیں!")
    await expect(page.locator("#language-switch")).to_have_text("English")
    # The newer parts of the page too: Buy It Now, the watch toggle.
    await expect(page.locator("#buy-now-button")).to_have_text("ابھی خریدیں: 5,00,000.00 روپے")
    await expect(page.locator("#watch-button")).to_have_text("نظر رکھیں")
    await expect(page.locator("#watch-count")).to_have_text("0 نظر رکھے ہوئے ہیں")
    # Mirrored: the logical sides of app.css land on the right.
    assert await page.evaluate("getComputedStyle(document.querySelector('.prices')).direction") == (
        "rtl"
    )
    assert await page.evaluate(
        "getComputedStyle(document.getElementById('my-status')).borderRightWidth"
    ) == ("4px")

    # A refused bid: the page words its code in Urdu (the socket's message stays English).
    await bid(page, "150001")
    await expect(page.locator("#error")).to_have_text("بولی کم از کم 1,52,500.00 روپے ہونی چاہیے")
    await bid(page, "1234567")
    await expect(page.locator("#current-price")).to_have_text("12,34,567.00 روپے")
    await expect(page.locator("#my-status")).to_have_text("سب سے زیادہ بولی آپ کی ہے۔")
    await expect(page.locator("#retract-button")).to_have_text("میری آخری بولی واپس لیں")
    await expect(page.locator("#buy-now")).to_be_hidden()  # the price passed Buy It Now's
    await expect(page.locator("#latest-bids li").first).to_contain_text("12,34,567.00 روپے")
    await save_screenshot(page, "live-auction-urdu.png")
    await page.context.close()


async def test_the_english_page_also_groups_by_lakh(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller, starting_price="150000.00")
    page = await open_page(browser, live_server.url, auction_id, None, locale="en-US")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#starting-price")).to_have_text("PKR 1,50,000.00")
    await expect(page.locator("dt").first).to_have_text("Starting price")
    await expect(page.locator("#language-switch")).to_have_text("اردو")
    await page.context.close()


async def test_the_switch_changes_the_language_keeps_it_and_saves_it_to_the_profile(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    page = await open_page(browser, live_server.url, auction_id, buyer, locale="en-US")
    await expect(page.locator("#starting-price")).to_have_text("PKR 2,500.00")

    await page.click("#language-switch")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("#starting-price")).to_have_text("2,500.00 روپے")
    await expect(page.locator("#language-switch")).to_have_text("English")
    assert await page.evaluate("localStorage.getItem('madeinpk.language')") == "ur"
    row = await UserProfile.select(UserProfile.language).where(UserProfile.user == buyer.id).first()
    assert row is not None and row["language"] == "ur"  # notices and emails follow

    # Persisted: another page of this browser (the list too) opens in Urdu.
    listing = await page.context.new_page()
    await listing.goto(f"{live_server.url}/")
    await expect(listing.locator("h1")).to_have_text("جاری نیلامیاں")
    await expect(listing.locator("#list-status")).to_have_text("1 نیلامیاں بولی کے لیے کھلی ہیں")
    await expect(listing.locator(".price")).to_have_text("2,500.00 روپے · 0 بولیاں")
    await expect(listing.locator("#search-form button")).to_have_text("تلاش")
    await expect(listing.locator("#search-text")).to_have_attribute(
        "placeholder", "پشمینہ، قالین، کھسہ…"
    )
    # Starting soon, in Urdu too (an auction scheduled a day ahead).
    soon = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=DAY, ends_in=2 * DAY, name="Ajrak"
    )
    await listing.reload()
    await expect(listing.locator("#soon-title")).to_have_text("جلد شروع ہونے والی نیلامیاں")
    card = listing.locator(f"#soon-list a[href='/auction/{soon}']")
    await expect(card.locator(".soon-price")).to_have_text("ابتدائی قیمت: 2,500.00 روپے")
    await expect(card.locator(".starts-in")).to_have_text(
        re.compile(r"^(1 دن 0 گھنٹے 00 منٹ 00|23 گھنٹے 59 منٹ \d\d) سیکنڈ میں شروع ہو گی$")
    )

    await listing.click("#language-switch")
    await expect(listing.locator("html")).to_have_attribute("dir", "ltr")
    await expect(listing.locator("h1")).to_have_text("Live auctions")
    row = await UserProfile.select(UserProfile.language).where(UserProfile.user == buyer.id).first()
    assert row is not None and row["language"] == "en"
    await page.context.close()
