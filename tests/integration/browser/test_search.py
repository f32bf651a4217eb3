"""The list page's search box in a real browser (Debian's Chromium driven by Playwright): it
lists the API's ranked search, best match first, and keeps the text in the address.

Unlike the rest of this folder it is not marked ``browser``, so it runs on both passes: the
ranking, and whether a misspelt word is found (PostgreSQL finds it), depend on the database."""

from __future__ import annotations

from playwright.async_api import expect

from madeinpk.accounts.tables import Role
from madeinpk.catalog.tables import Category, Product
from tests.integration.browser.pages import Chromium, open_list
from tests.integration.catalog.test_search import POSTGRES
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user


async def test_the_search_box_lists_the_best_match_first(
    browser: Chromium, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    [carpets] = await Category.insert(Category(name="Carpets")).returning(Category.id)
    rug = await make_auction(seller, name="Wool Rug", images=1)  # a carpet by its category
    await Product.update({Product.category: carpets["id"]}).where(Product.name == "Wool Rug")
    carpet = await make_auction(seller, name="Kashmiri Silk Carpet", images=1)
    await make_auction(seller, name="Pashmina Shawl", images=1)

    page = await open_list(browser, live_server.url)
    cards = page.locator("#auction-list a")
    await expect(cards).to_have_count(3)

    await page.fill("#search-text", "carpet")
    await page.press("#search-text", "Enter")
    await expect(page).to_have_url(live_server.url + "/?search=carpet")
    await expect(page.locator("#list-status")).to_have_text(
        "2 auctions open for bidding match “carpet”, best match first"
    )
    await expect(cards).to_have_count(2)
    # The name's word before the category's, though the rug was listed first and ends first.
    assert [await a.get_attribute("href") for a in await cards.all()] == [
        f"/auction/{carpet}",
        f"/auction/{rug}",
    ]
    await expect(page.locator("#search-text")).to_have_value("carpet")

    await page.fill("#search-text", "pashmena")  # misspelt: PostgreSQL still finds it
    await page.press("#search-text", "Enter")
    await expect(page.locator("#list-status")).to_contain_text("match “pashmena”")
    await expect(cards).to_have_count(1 if POSTGRES else 0)
    await page.context.close()
