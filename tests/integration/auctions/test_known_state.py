"""Bids decided on the state the process's last batch left, written in one round trip on
condition that the row still holds it: when another writer moved the row in between (another
app process's bid, an ending, a block), nothing is written, the same statement returns the row
as that writer left it, and the bid is decided again on it (under the lock only when that does
not help), so the answer is the one the true state gives."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

import asyncpg
import httpx
import pytest

from madeinpk.accounts.tables import UserProfile
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.notifications.tables import Notification, OutboxEmail
from madeinpk.observability import metrics
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_user
from tests.integration.sockets import error, watch

pytestmark = pytest.mark.usefixtures("task_worker")


def batches(path: str) -> float:
    return metrics.BID_BATCHES.labels(path=path)._value.get()


async def bid(
    client: httpx.AsyncClient, auction: int, who: UserHandle, amount: str
) -> httpx.Response:
    return await client.post(
        f"/api/auctions/{auction}/place_bid/", json={"amount": amount}, headers=who.auth
    )


async def test_a_run_of_bids_after_the_first_goes_without_the_lock(
    client: httpx.AsyncClient, live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    rival = await make_user(live_server.settings)
    known, locked = batches("known"), batches("locked")
    for i, amount in enumerate(["2600.00", "2700.00", "2650.00", "2800.00", "2900.00"]):
        response = await bid(client, auction, (buyer, rival)[i % 2], amount)
        assert response.status_code == (400 if amount == "2650.00" else 201), response.text
    assert batches("locked") - locked == 1  # the first read the row under the lock
    assert batches("known") - known == 4  # the refusal too: it was checked against the row
    row = await Auction.select().where(Auction.id == auction).first()
    assert row is not None
    assert (row["current_price"], row["bid_count"], row["seq"]) == (Decimal("2900.00"), 4, 4)
    assert row["leader"] == buyer.id
    stored = await Bid.select(Bid.amount, Bid.is_winning).where(Bid.auction == auction)
    assert [b["amount"] for b in stored if b["is_winning"]] == [Decimal("2900.00")]


async def test_a_row_moved_by_another_writer_is_read_again(
    client: httpx.AsyncClient, live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    """As if another app process had taken the price to 5000 between two of our batches: the
    known state (2600) is stale, so the bid is judged against 5000 (the row the failed write
    returned, not a locked transaction) and the refusal says so."""
    rival = await make_user(live_server.settings)
    assert (await bid(client, auction, buyer, "2600.00")).status_code == 201
    await Auction.update(
        {
            Auction.current_price: Decimal("5000.00"),
            Auction.bid_count: 2,
            Auction.seq: 2,
            Auction.leader: rival.id,
        }
    ).where(Auction.id == auction)
    known, moved, locked = batches("known"), batches("moved"), batches("locked")

    refused = await bid(client, auction, buyer, "3000.00")
    assert refused.status_code == 400
    assert refused.json() == {"amount": ["Bid must be higher than current price of 5000.00"]}
    assert batches("moved") - moved == 1
    assert batches("locked") == locked and batches("known") == known

    accepted = await bid(client, auction, buyer, "5100.00")
    assert accepted.status_code == 201, accepted.text
    row = await Auction.select().where(Auction.id == auction).first()
    assert row is not None and (row["seq"], row["bid_count"]) == (3, 3)
    stored = await Bid.select(Bid.amount, Bid.seq).where(Bid.auction == auction).order_by(Bid.id)
    assert stored == [
        {"amount": Decimal("2600.00"), "seq": 1},
        {"amount": Decimal("5100.00"), "seq": 3},
    ]


async def test_a_bid_after_the_auction_ended_elsewhere_is_refused(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    assert (await bid(client, auction, buyer, "2600.00")).status_code == 201
    await Auction.update(
        {Auction.status: AuctionStatus.ended.value, Auction.seq: Auction.seq + 1}
    ).where(Auction.id == auction)
    for amount in ("3000.00", "100.00"):  # a bid that would win, and a refusal either way
        response = await bid(client, auction, buyer, amount)
        assert response.status_code == 400
        assert response.json() == {"error": "Auction is not active"}
    assert await Bid.count().where(Bid.auction == auction) == 1


async def test_an_edit_that_leaves_seq_alone_is_still_seen(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    """The condition is the whole state the rules read, not only ``seq``."""
    assert (await bid(client, auction, buyer, "2600.00")).status_code == 201
    await Auction.update({Auction.end_time: utc_now()}).where(Auction.id == auction)
    response = await bid(client, auction, buyer, "3000.00")
    assert (response.status_code, response.json()) == (400, {"error": "Auction is not active"})


async def test_a_bidder_blocked_since_the_last_batch_is_refused(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    """Over the socket, where the bidder was let in before the block."""
    async with watch(live_server.url, auction, buyer.token) as ws:
        assert (await ws.bid(2600))["type"] == "new_bid"
        await UserProfile.update({UserProfile.is_blocked: True}).where(UserProfile.user == buyer.id)
        known, moved = batches("known"), batches("moved")
        refused = await ws.bid(3000)
        assert {k: v for k, v in refused.items() if k != "data"} == error(
            "Your account is blocked", "blocked"
        )
        # The write found the bidder blocked, and its returned row said so: refused on it.
        assert batches("known") == known and batches("moved") - moved == 1
    assert await Bid.count().where(Bid.auction == auction) == 1


class SecondWriter:
    """Another writer on the auction's row, on its own connection: it moves the row to a price
    of 5000 led by ``rival`` in a transaction it holds open until ``commit``."""

    def __init__(self, live_server: LiveServer) -> None:
        self.database = live_server.settings.database
        self.pg: asyncpg.Connection | None = None
        self.lite: sqlite3.Connection | None = None

    async def move(self, auction: int, rival: int) -> None:
        update = "UPDATE auction SET current_price = 5000, bid_count = 2, seq = 2, leader = {}"
        if self.database.engine == "postgres":
            self.pg = await asyncpg.connect(self.database.url)
            await self.pg.execute("BEGIN")
            await self.pg.execute(update.format("$1") + " WHERE id = $2", rival, auction)
        else:
            self.lite = sqlite3.connect(str(self.database.sqlite_path), isolation_level=None)
            self.lite.execute("BEGIN IMMEDIATE")
            self.lite.execute(update.format("?") + " WHERE id = ?", (rival, auction))

    async def waited_for(self) -> None:
        """Until the app's write waits for this writer's lock (PostgreSQL: its session is seen
        waiting; SQLite: its thread waits out the busy timeout, which cannot be seen, so a
        moment is given)."""
        if self.pg is None:
            await asyncio.sleep(0.3)
            return
        watcher = await asyncpg.connect(self.database.url)
        try:
            for _ in range(3000):
                if await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%held AS (UPDATE auction%'"
                ):
                    return
                await asyncio.sleep(0.01)
        finally:
            await watcher.close()
        raise AssertionError("the bid's write never waited for the second writer")

    async def commit(self) -> None:
        if self.pg is not None:
            await self.pg.execute("COMMIT")
            await self.pg.close()
        if self.lite is not None:
            self.lite.execute("COMMIT")
            self.lite.close()


async def test_a_write_that_waited_for_another_writer_is_decided_again_on_its_row(
    client: httpx.AsyncClient, live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    """A real second writer holds the row while our bid is written on the state we knew: the
    write waits for it, finds the row moved, and in the same round trip reads the row it
    left; the bid is decided again on that (5000, led by the rival, who is told they were
    outbid) and written, without the lock."""
    rival = await make_user(live_server.settings)
    assert (await bid(client, auction, buyer, "2600.00")).status_code == 201
    known, moved, locked = batches("known"), batches("moved"), batches("locked")
    writer = SecondWriter(live_server)
    await writer.move(auction, rival.id)
    try:
        placing = asyncio.create_task(bid(client, auction, buyer, "5100.00"))
        await writer.waited_for()
    finally:
        await writer.commit()
    accepted = await placing
    assert accepted.status_code == 201, accepted.text
    assert batches("moved") - moved == 1
    assert (batches("known"), batches("locked")) == (known, locked)
    row = await Auction.select().where(Auction.id == auction).first()
    assert row is not None
    assert (row["current_price"], row["bid_count"], row["seq"], row["leader"]) == (
        Decimal("5100.00"),
        3,
        3,
        buyer.id,
    )
    stored = await Bid.select(Bid.amount, Bid.seq).where(Bid.auction == auction).order_by(Bid.id)
    assert stored == [
        {"amount": Decimal("2600.00"), "seq": 1},
        {"amount": Decimal("5100.00"), "seq": 3},
    ]
    # The rival's name and address came with the returned row: the notice and email are theirs.
    product = await Auction.select(Auction.product.name).where(Auction.id == auction).first()
    assert product is not None
    told = await Notification.select(Notification.message).where(Notification.user == rival.id)
    assert [n["message"] for n in told] == [
        f"Someone placed a higher bid of Rs. 5100.00 on {product['product.name']}"
    ]
    emails = await OutboxEmail.select(OutboxEmail.to_address, OutboxEmail.dedupe_key)
    assert [(e["to_address"], e["dedupe_key"]) for e in emails] == [
        (rival.email, f"outbid:{auction}:3")
    ]
