"""Bids decided on the state the process's last batch left, written in one round trip on
condition that the row still holds it: when another writer moved the row in between (another
app process's bid, an ending, a block), nothing is written and the bid is decided again under
the lock, so the answer is the one the true state gives."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from madeinpk import metrics
from madeinpk.accounts.tables import UserProfile
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.timestamps import utc_now
from tests.conftest import LiveServer
from tests.factories import UserHandle, make_user
from tests.sockets import error, watch

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
    known state (2600) is stale, so the bid is judged against 5000 and the refusal says so."""
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
    known, locked = batches("known"), batches("locked")

    refused = await bid(client, auction, buyer, "3000.00")
    assert refused.status_code == 400
    assert refused.json() == {"amount": ["Bid must be higher than current price of 5000.00"]}
    assert batches("locked") - locked == 1 and batches("known") == known

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
        known = batches("known")
        refused = await ws.bid(3000)
        assert {k: v for k, v in refused.items() if k != "data"} == error(
            "Your account is blocked", "blocked"
        )
        assert batches("known") == known
    assert await Bid.count().where(Bid.auction == auction) == 1
