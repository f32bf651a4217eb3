"""Limits that hold over every app process: open sockets per client address
(``MAX_SOCKETS_PER_IP``, close 4429) and bids per user per second (``BID_RATE_LIMIT``).
Shared through Redis on the production topology (two real app processes), in memory embedded
(one)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from madeinpk.accounts.tables import Role
from tests.integration.conftest import ENGINE, LiveServer, free_port
from tests.integration.factories import make_auction, make_user
from tests.integration.sockets import Watch, socket_url, watch
from tests.integration.test_multiprocess import start_app, wait_until_up

pytestmark = pytest.mark.usefixtures("task_worker")


@pytest.fixture
async def capped_apps(
    test_env: dict[str, str], live_server: LiveServer
) -> AsyncIterator[list[str]]:
    """Two app processes on PostgreSQL and Redis; one on the embedded topology (its memory
    cannot be shared), each allowing 3 sockets per address and 1 bid a second per user."""
    limits = {"MAX_SOCKETS_PER_IP": "3", "BID_RATE_LIMIT": "1"}
    ports = [free_port() for _ in range(2 if ENGINE == "postgres" else 1)]
    processes = [start_app({**test_env, **limits}, port) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            await wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def refused(url: str, auction_id: int) -> tuple[int | None, str | None]:
    async with websockets.connect(socket_url(url, auction_id)) as connection:
        return await Watch(connection).closed_with()


async def test_one_address_gets_at_most_the_cap_of_sockets_over_all_processes(
    capped_apps: list[str], live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller)
    first, last = capped_apps[0], capped_apps[-1]
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(watch(url, auction_id)) for url in (first, first)]
        await stack.enter_async_context(watch(last, auction_id))
        for url in capped_apps:
            assert await refused(url, auction_id) == (4429, "Too many connections")
        await held[0].connection.close()
        await stack.enter_async_context(watch(last, auction_id))  # a place came free
        assert await refused(first, auction_id) == (4429, "Too many connections")


async def test_the_bid_rate_limit_counts_bids_on_every_process(
    capped_apps: list[str], live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    first, last = capped_apps[0], capped_apps[-1]
    path = f"/api/auctions/{auction_id}/place_bid/"
    async with httpx.AsyncClient() as http, watch(last, auction_id, buyer.token) as ws:
        answer = await http.post(first + path, json={"amount": 2600}, headers=buyer.auth)
        assert answer.status_code == 201, answer.text
        assert (await ws.receive())["type"] == "new_bid"
        # The one bid of this second was spent on the first process: refused on the other.
        reply = await ws.bid(2700)
        over = await http.post(last + path, json={"amount": 2800}, headers=buyer.auth)
    assert reply["type"] == "error" and reply["code"] == "rate_limited"
    assert (over.status_code, over.json()) == (429, {"error": "Too many bids, slow down"})
