"""Two app processes on PostgreSQL and Redis: a bid taken by one reaches watchers on both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from madeinpk.accounts.tables import Role
from tests.conftest import LiveServer, free_port
from tests.factories import make_auction, make_user
from tests.sockets import watch

pytestmark = [pytest.mark.postgres_only, pytest.mark.usefixtures("task_worker")]


def server_args(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


def start_app(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "madeinpk.app:create_app",
            *server_args(port),
        ],
        env={**os.environ, **env, "PORT": str(port)},
        start_new_session=True,
    )


async def wait_until_up(url: str) -> None:
    """Up to a minute: importing the app alone takes 5-6 s when the machine is busy."""
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(1200):
            try:
                if (await http.get("/api/categories/")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not start")


@pytest.fixture(scope="module")
def app_processes(test_env: dict[str, str]) -> Iterator[list[str]]:
    ports = [free_port(), free_port()]
    processes = [start_app(test_env, port) for port in ports]
    try:
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
async def apps(app_processes: list[str], live_server: LiveServer) -> AsyncIterator[list[str]]:
    for url in app_processes:
        await wait_until_up(url)
    yield app_processes


async def test_first_watchers_of_many_auctions_at_once_all_get_events(
    apps: list[str], live_server: LiveServer
) -> None:
    """A freshly started process, several auctions' first watchers connecting at the same
    instant (as after a deploy): every one of them must get its auction's events."""
    first, _ = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auctions = [await make_auction(seller) for _ in range(6)]
    async with contextlib.AsyncExitStack() as stack:
        watchers = await asyncio.gather(
            *(stack.enter_async_context(watch(first, a)) for a in auctions)
        )
        async with httpx.AsyncClient(base_url=first) as http:
            for auction_id in auctions:
                response = await http.post(
                    f"/api/auctions/{auction_id}/place_bid/",
                    json={"amount": 3000},
                    headers=buyer.auth,
                )
                assert response.status_code == 201
        for watcher in watchers:
            event = await watcher.receive()
            assert event["type"] == "new_bid" and event["data"]["amount"] == "3000.00"


async def test_bids_on_one_process_reach_watchers_on_both(
    apps: list[str], live_server: LiveServer
) -> None:
    first, second = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    rival = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    async with (
        watch(first, auction_id, buyer.token) as bidder,
        watch(first, auction_id) as watcher_on_first,
        watch(second, auction_id) as watcher_on_second,
    ):
        reply = await bidder.bid(3000)
        assert reply["type"] == "new_bid"
        assert await watcher_on_first.receive() == reply
        assert await watcher_on_second.receive() == reply

        # A REST bid taken by the *other* process reaches the socket on the first one.
        async with httpx.AsyncClient(base_url=second) as http:
            response = await http.post(
                f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3100}, headers=rival.auth
            )
        assert response.status_code == 201, response.text
        for ws in (bidder, watcher_on_first, watcher_on_second):
            event = await ws.receive()
            assert event["type"] == "new_bid"
            assert (event["data"]["bidder"], event["data"]["amount"]) == (rival.username, "3100.00")
