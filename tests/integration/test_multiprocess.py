"""Two app processes on PostgreSQL and Redis: a bid taken by one reaches watchers on both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, Bid
from madeinpk.cli import LEAN_WEBSOCKETS
from tests.integration.conftest import LiveServer, free_port
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, socket_url, watch

pytestmark = [pytest.mark.postgres_only, pytest.mark.usefixtures("task_worker")]


def server_args(port: int) -> list[str]:
    return [
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--ws", LEAN_WEBSOCKETS, "--ws-per-message-deflate", "false",
    ]  # fmt: skip


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
    """Up to a minute: a loaded 2-core machine takes a while to import and start an app."""
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


async def test_a_retry_reaching_the_other_process_gets_the_first_answer(
    apps: list[str], live_server: LiveServer
) -> None:
    first, second = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    headers = {**buyer.auth, "Idempotency-Key": "retry-across-processes"}
    async with httpx.AsyncClient() as http:
        url = f"/api/auctions/{auction_id}/place_bid/"
        answer = await http.post(first + url, json={"amount": 3000}, headers=headers)
        retried = await http.post(second + url, json={"amount": 3000}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert (retried.status_code, retried.json()) == (201, answer.json())
    async with watch(second, auction_id, buyer.token) as ws:
        await ws.send({"type": "place_bid", "amount": 3000, "bid_id": "retry-across-processes"})
        ack = await ws.receive()
    assert ack["type"] == "bid_accepted" and ack["data"]["seq"] == 1
    history = await http_get_json(first, f"/api/auctions/{auction_id}/bids/")
    assert len(history) == 1


async def http_get_json(base: str, path: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get(path)
    assert response.status_code == 200
    data: list[dict[str, object]] = response.json()
    return data


async def test_a_watcher_reconnecting_to_the_other_process_replays_what_it_missed(
    apps: list[str], live_server: LiveServer
) -> None:
    first, second = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    async with watch(first, auction_id, buyer.token) as bidder:
        async with watch(first, auction_id) as watcher:
            for amount in (2600, 2700):
                await bidder.bid(amount)
                last = (await watcher.receive())["data"]["seq"]
        missed = [await bidder.bid(amount) for amount in (2800, 2900, 3000)]  # while away
        url = socket_url(second, auction_id) + f"?since_seq={last}"
        async with websockets.connect(url) as connection:
            back = Watch(connection)
            status = await back.receive()
            assert status["type"] == "auction_status" and status["data"]["seq"] == 5
            replayed = [await back.receive() for _ in missed]
            assert replayed == [m | {"replay": True} for m in missed]
            live = await bidder.bid(3100)  # taken by the first process, seen on the second
            assert await back.receive() == live


async def test_an_outbid_alert_reaches_the_buyer_on_the_other_process(
    apps: list[str], live_server: LiveServer
) -> None:
    first, second = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    rival = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    alerts = second.replace("http", "ws", 1) + f"/ws/notifications/?token={buyer.token}"
    async with websockets.connect(alerts) as connection:
        feed = Watch(connection)
        assert (await feed.receive())["type"] == "unread_count"
        async with watch(first, auction_id, buyer.token) as ws:
            await ws.bid(2600)
        async with watch(first, auction_id, rival.token) as ws:
            await ws.bid(2700)
        pushed = await feed.receive()
    assert pushed["type"] == "notification" and pushed["unread_count"] == 1
    assert pushed["data"]["notification_type"] == "bid_outbid"
    assert pushed["data"]["auction"] == auction_id


async def race_over_socket(
    url: str, auction_id: int, bidder: UserHandle, plan: list[int]
) -> list[int]:
    """Each amount in turn, the next once this one is answered; the amounts accepted."""
    accepted = []
    async with watch(url, auction_id, bidder.token) as ws:
        for amount in plan:
            await ws.send({"type": "place_bid", "amount": amount})
            while True:  # the other bidders' new_bid events come in between
                message = await ws.receive(seconds=30)
                if message["type"] == "error":
                    assert message["code"] == "too_low", message
                    break
                if message["type"] == "bid_accepted":
                    accepted.append(amount)
                    break
    return accepted


async def test_two_processes_racing_on_one_auction_keep_every_guarantee(
    apps: list[str], live_server: LiveServer
) -> None:
    """Bidders on both processes at once: each process decides its batches on the state its
    last batch left, finds the row moved by the other, and decides again on the row the failed
    write returned. Whatever the interleaving: one order for all (acceptance order = time
    order, seq 1, 2, 3 … without gaps), the price the highest bid, one winning bid, and every
    accepted bid seen once, in order, by watchers on both processes."""
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller, starting_price="1000.00")
    bidders = [await make_user(live_server.settings) for _ in range(8)]
    rng = random.Random(19)
    pool = rng.sample(range(1001, 1001 + 8 * 6 * 10), 8 * 6)  # every amount distinct
    plans = [sorted(pool[i * 6 : (i + 1) * 6]) for i in range(8)]
    async with watch(apps[0], auction_id) as on_first, watch(apps[1], auction_id) as on_second:
        results = await asyncio.gather(
            *(
                race_over_socket(apps[i % 2], auction_id, bidder, plan)
                for i, (bidder, plan) in enumerate(zip(bidders, plans, strict=True))
            )
        )
        accepted = sorted(a for result in results for a in result)
        assert accepted
        for spectator in (on_first, on_second):
            events = [await spectator.receive(seconds=10) for _ in accepted]
            assert [Decimal(e["data"]["amount"]) for e in events] == accepted
            assert [e["data"]["seq"] for e in events] == list(range(1, len(accepted) + 1))
            assert await spectator.silent(0.3)
    rows = await Bid.select(Bid.id, Bid.amount, Bid.bid_time, Bid.is_winning, Bid.seq).where(
        Bid.auction == auction_id
    )
    by_time = sorted(rows, key=lambda r: (r["bid_time"], r["id"]))
    assert [int(r["amount"]) for r in by_time] == accepted, "time order is acceptance order"
    assert sorted(r["seq"] for r in rows) == list(range(1, len(accepted) + 1))
    assert [int(r["amount"]) for r in rows if r["is_winning"]] == [max(accepted)]
    auction = (
        await Auction.select(Auction.current_price, Auction.bid_count, Auction.seq)
        .where(Auction.id == auction_id)
        .first()
    )
    assert auction is not None
    assert (auction["current_price"], auction["bid_count"]) == (max(accepted), len(accepted))
