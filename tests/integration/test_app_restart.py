"""An app process goes away under bid load (SIGTERM: a deploy; SIGKILL: a crash), with real
processes on PostgreSQL and Redis: every accepted bid is stored once and reaches every watcher,
on the surviving process or reconnected to it with ``since_seq``, in order, without a gap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, Bid, BidRequest
from tests.integration.conftest import LiveServer, free_port
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, socket_url
from tests.integration.test_multiprocess import start_app, wait_until_up

pytestmark = [pytest.mark.postgres_only, pytest.mark.usefixtures("task_worker")]

EVENTS = ("new_bid", "auction_extended", "auction_ended")
SERVICE_RESTART = 1012


@dataclass
class App:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@pytest.fixture
async def two_apps(test_env: dict[str, str], live_server: LiveServer) -> AsyncIterator[list[App]]:
    apps = []
    for _ in range(2):
        port = free_port()
        apps.append(App(f"http://127.0.0.1:{port}", start_app(test_env, port)))
    try:
        for app in apps:
            await wait_until_up(app.url)
        yield apps
    finally:
        for app in apps:
            if app.alive:
                os.killpg(app.process.pid, signal.SIGKILL)
                app.process.wait(timeout=10)


def alive(apps: list[App], preferred: App) -> App:
    return preferred if preferred.alive else next(a for a in apps if a.alive)


@dataclass
class Follower:
    """A watcher that reconnects (to a live process) with the last seq it saw, as the live page
    does, and checks that the events it gets are 1, 2, 3, … without a gap or a repeat."""

    apps: list[App]
    home: App
    auction_id: int
    seqs: list[int] = field(default_factory=list)
    amounts: dict[int, str] = field(default_factory=dict)
    closes: list[int | None] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, until: asyncio.Event, final: list[int]) -> None:
        while not (until.is_set() and final and self.seqs and self.seqs[-1] >= final[0]):
            app = alive(self.apps, self.home)
            query = f"?since_seq={self.seqs[-1]}" if self.seqs else ""
            try:
                async with websockets.connect(
                    socket_url(app.url, self.auction_id) + query
                ) as connection:
                    ws = Watch(connection)
                    status = await ws.receive()
                    assert status["type"] == "auction_status"
                    if not self.seqs:
                        self.seqs.append(status["data"]["seq"])
                    self.connected.set()
                    while True:
                        message = await ws.receive(seconds=1)
                        if message["type"] not in EVENTS:
                            continue
                        seq = message["data"]["seq"]
                        assert seq == self.seqs[-1] + 1, (self.seqs[-5:], message)
                        self.seqs.append(seq)
                        if message["type"] == "new_bid":
                            self.amounts[seq] = message["data"]["amount"]
                        if until.is_set() and final and seq >= final[0]:
                            return
            except websockets.ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
            except (TimeoutError, OSError):
                pass  # nothing new for a second (check whether we are done), or refused
            await asyncio.sleep(0.05)


@dataclass
class Bidder:
    """Bids with keys over a socket; an answer lost with its connection is asked for again
    (the same ``bid_id``) on whichever process is alive."""

    apps: list[App]
    home: App
    user: UserHandle
    auction_id: int
    offset: int
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def run(self, bids: int) -> None:
        n = 0
        while n < bids:
            app = alive(self.apps, self.home)
            try:
                async with websockets.connect(
                    socket_url(app.url, self.auction_id, self.user.token)
                ) as connection:
                    ws = Watch(connection)
                    assert (await ws.receive())["type"] == "auction_status"
                    while n < bids:
                        key = f"{self.user.username}-{n}"
                        amount = 3000 + 20 * n + self.offset
                        await ws.send({"type": "place_bid", "amount": amount, "bid_id": key})
                        self.outcomes[key] = await self.answer(ws, key)
                        n += 1
            except (websockets.ConnectionClosed, TimeoutError, OSError):
                await asyncio.sleep(0.05)

    async def answer(self, ws: Watch, key: str) -> dict[str, Any]:
        while True:
            message = await ws.receive(seconds=10)
            if (
                message["type"] in ("bid_accepted", "error")
                and message.get("bid_id", message.get("data", {}).get("bid_id")) == key
            ):
                return message


async def bid_load_while_one_app_dies(
    apps: list[App], live_server: LiveServer, kill: signal.Signals
) -> tuple[list[Follower], list[Bidder], int]:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller)
    users = [await make_user(live_server.settings) for _ in range(4)]
    doomed, survivor = apps
    followers = [Follower(apps, app, auction_id) for app in (doomed, doomed, survivor, survivor)]
    bidders = [
        Bidder(apps, app, user, auction_id, offset=i)
        for i, (app, user) in enumerate(
            zip((doomed, doomed, survivor, survivor), users, strict=True)
        )
    ]
    done, final = asyncio.Event(), list[int]()
    watching = [asyncio.create_task(f.run(done, final)) for f in followers]
    await asyncio.gather(*(f.connected.wait() for f in followers))
    bidding = [asyncio.create_task(b.run(30)) for b in bidders]
    while sum(len(b.outcomes) for b in bidders) < 30:  # noqa: ASYNC110 (counting answers)
        await asyncio.sleep(0.01)
    os.killpg(doomed.process.pid, kill)
    async with asyncio.timeout(120):
        await asyncio.gather(*bidding)
        row = await Auction.select(Auction.seq).where(Auction.id == auction_id).first()
        assert row is not None
        final.append(row["seq"])
        done.set()
        await asyncio.gather(*watching)
    if kill == signal.SIGTERM:
        # uvicorn shuts down gracefully, then raises the signal again for its exit status.
        assert await asyncio.to_thread(doomed.process.wait, 60) in (0, -signal.SIGTERM)
    return followers, bidders, auction_id


async def check_nothing_lost(followers: list[Follower], bidders: list[Bidder], auction_id: int):
    bids = await Bid.select(Bid.seq, Bid.amount).where(Bid.auction == auction_id)
    stored = {b["seq"]: f"{b['amount']:.2f}" for b in bids}
    accepted = [o for b in bidders for o in b.outcomes.values() if o["type"] == "bid_accepted"]
    assert len(stored) == len(bids) == len(accepted) > 0  # each accepted bid stored once
    assert {o["data"]["seq"] for o in accepted} == set(stored)
    keys = await BidRequest.count().where(BidRequest.auction == auction_id)
    decided = [o for b in bidders for o in b.outcomes.values() if o.get("code") != "rate_limited"]
    assert keys == len(decided)  # every decided key once (a rate-limited bid is not decided)
    last = max(stored)
    for follower in followers:
        start = follower.seqs[0]
        assert follower.seqs == list(range(start, last + 1))
        assert {s: a for s, a in stored.items() if s > start} == follower.amounts


async def test_sigterm_drains_bids_closes_sockets_1012_and_nothing_is_lost(
    two_apps: list[App], live_server: LiveServer
) -> None:
    followers, bidders, auction_id = await bid_load_while_one_app_dies(
        two_apps, live_server, signal.SIGTERM
    )
    await check_nothing_lost(followers, bidders, auction_id)
    for follower in followers[:2]:  # they watched the process that was stopped
        assert follower.closes[:1] == [SERVICE_RESTART]


async def test_sigkill_loses_no_accepted_bid_and_no_event(
    two_apps: list[App], live_server: LiveServer
) -> None:
    followers, bidders, auction_id = await bid_load_while_one_app_dies(
        two_apps, live_server, signal.SIGKILL
    )
    await check_nothing_lost(followers, bidders, auction_id)
