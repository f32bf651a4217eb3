"""The page helpers of the browser tests: opening the live page or the list in Chromium, signed in
or not, bidding, and keeping a screenshot. ``conftest.py`` gives the tests the browser."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.integration.factories import UserHandle

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PHONE = ViewportSize(width=390, height=844)
LIVE = re.compile(r"\bpill-on\b")  # the connection pill, whatever the page's language


@dataclass
class Chromium:
    """The module's Chromium as one test sees it: every context it opens reports the page's
    uncaught script errors to ``script_errors`` (the fixture fails the test on any) and is
    closed when the test ends."""

    browser: Browser
    script_errors: list[str]
    contexts: list[BrowserContext] = field(default_factory=list)

    async def new_context(self, *, locale: str | None = None, phone: bool = True) -> BrowserContext:
        """A phone (or, ``phone=False``, Playwright's desktop window) whose browser speaks
        ``locale`` (navigator.languages and Accept-Language)."""
        context = await self.browser.new_context(viewport=PHONE if phone else None, locale=locale)
        context.on("weberror", lambda error: self.script_errors.append(str(error.error)))
        self.contexts.append(context)
        return context

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()


def sign_in_script(base_url: str, token: str) -> str:
    """The script that signs every page of a context in, as the page's own login would: the key in
    localStorage. Only on the app's origin: an init script runs in every document of the context,
    and in an opaque one (the about:blank a new tab starts on, a blank frame) reading localStorage
    throws a SecurityError, a script error the test would blame on the page."""
    parts = urlsplit(base_url)
    origin = json.dumps(f"{parts.scheme}://{parts.netloc}")
    return (
        f"if (location.origin === {origin}) localStorage.setItem('authToken', {json.dumps(token)});"
    )


async def sign_in(context: BrowserContext, base_url: str, user: UserHandle) -> None:
    await context.add_init_script(sign_in_script(base_url, user.token))


async def open_auction(context: BrowserContext, base_url: str, auction_id: int) -> Page:
    """A new tab of ``context`` on the auction's live page, once its socket is live."""
    page = await context.new_page()
    await page.goto(f"{base_url}/auction/{auction_id}")
    await expect(page.locator("#connection")).to_have_class(LIVE, timeout=10_000)
    return page


async def open_page(
    browser: Chromium,
    base_url: str,
    auction_id: int,
    user: UserHandle | None,
    *,
    locale: str | None = None,
) -> Page:
    """The auction's live page on a phone of its own, signed in as ``user`` (None: a spectator)."""
    context = await browser.new_context(locale=locale)
    if user is not None:
        await sign_in(context, base_url, user)
    return await open_auction(context, base_url, auction_id)


async def open_list(browser: Chromium, base_url: str) -> Page:
    """The list page (``/``) in a desktop window of its own, signed out."""
    context = await browser.new_context(phone=False)
    page = await context.new_page()
    await page.goto(base_url + "/")
    return page


async def bid(page: Page, amount: str) -> None:
    await page.fill("#bid-amount", amount)
    await page.click("#bid-button")


async def save_screenshot(page: Page, name: str) -> None:
    """The whole page, in ``test-artifacts/`` at the repository's root."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)
