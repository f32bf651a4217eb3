"""The browser tests' Chromium (Debian's, driven by Playwright) against the app in the suite's
real uvicorn server, and their common check: the page's script never threw. The page helpers are
in ``pages.py``.

Every test here is marked ``browser`` (run on the embedded pass only: the page is one static
bundle whatever the topology) except the search box's, whose ranking differs on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.integration.browser.pages import CHROMIUM, Chromium


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        await launched.close()


@pytest.fixture(autouse=True)
def script_errors() -> Iterator[list[str]]:
    """Every test also checks that no page's script threw (an uncaught error or rejection)."""
    errors: list[str] = []
    yield errors
    assert errors == [], errors


@pytest.fixture
async def browser(chromium: Browser, script_errors: list[str]) -> AsyncIterator[Chromium]:
    """Chromium for this test; the contexts it opened close when it ends."""
    session = Chromium(chromium, script_errors)
    yield session
    await session.close()
