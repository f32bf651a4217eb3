"""A stampede: many bidders at once over WebSocket and REST, on one auction.

Whatever interleaving happens, the database and the broadcast must agree: the price is the
highest accepted bid, exactly one bid is winning and it is that one, every accepted bid reaches
a watcher exactly once, in increasing order and numbered 1, 2, 3 …, and the stored bid times
agree with the amounts (sorted by time, the amounts strictly increase).
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from decimal import Decimal

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, Bid
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import watch

BIDDERS = 20
BIDS_EACH = 5

pytestmark = pytest.mark.usefixtures("task_worker")


async def bid_over_socket(
    url: str, auction_id: int, bidder: UserHandle, amounts: list[Decimal]
) -> list[Decimal]:
    accepted = []
    async with watch(url, auction_id, bidder.token) as ws:
        for amount in amounts:
            await ws.send({"type": "place_bid", "amount": float(amount)})
            # Every bidder's new_bid events arrive too; wait for the answer to *this* bid.
            while True:
                message = await ws.receive(seconds=30)
                if message["type"] == "error":
                    assert message["message"].startswith("Bid must be higher"), message
                    assert message["code"] == "too_low"
                    break
                if message["type"] == "bid_accepted":
                    assert Decimal(message["data"]["amount"]) == amount
                    accepted.append(amount)
                    break
    return accepted


async def bid_over_rest(
    http: httpx.AsyncClient, auction_id: int, bidder: UserHandle, amounts: list[Decimal]
) -> list[Decimal]:
    accepted = []
    for amount in amounts:
        response = await http.post(
            f"/api/auctions/{auction_id}/place_bid/",
            json={"amount": str(amount)},
            headers=bidder.auth,
        )
        if response.status_code == 201:
            accepted.append(amount)
        else:
            assert response.status_code == 400, response.text
            assert response.json()["amount"][0].startswith("Bid must be higher")
    return accepted


async def test_stampede_over_socket_and_rest(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller, starting_price="1000.00")
    bidders = [await make_user(live_server.settings) for _ in range(BIDDERS)]
    rng = random.Random(7)
    # Every amount distinct, so each accepted bid is identifiable; order within a bidder rises.
    pool = rng.sample(range(100_100, 100_100 + BIDDERS * BIDS_EACH * 10), BIDDERS * BIDS_EACH)
    plans = [
        sorted(Decimal(a) / 100 for a in pool[i * BIDS_EACH : (i + 1) * BIDS_EACH])
        for i in range(BIDDERS)
    ]

    async with watch(live_server.url, auction_id) as spectator:
        results = await asyncio.gather(
            *(
                bid_over_socket(live_server.url, auction_id, bidder, plan)
                if index % 2 == 0
                else bid_over_rest(client, auction_id, bidder, plan)
                for index, (bidder, plan) in enumerate(zip(bidders, plans, strict=True))
            )
        )
        accepted = sorted(a for result in results for a in result)
        assert accepted, "some bids must win the race"
        seen: list[Decimal] = []
        numbers: list[int] = []
        while len(seen) < len(accepted):
            message = await spectator.receive(seconds=10)
            assert message["type"] == "new_bid"
            seen.append(Decimal(message["data"]["amount"]))
            numbers.append(message["data"]["seq"])
        assert await spectator.silent(0.5)

    assert seen == accepted, "every accepted bid broadcast once, in increasing order"
    assert numbers == list(range(1, len(accepted) + 1)), "seq 1, 2, 3 … without gaps"
    history = (await client.get(f"/api/auctions/{auction_id}/bids/")).json()
    by_time = sorted(history, key=lambda b: (datetime.fromisoformat(b["bid_time"]), b["id"]))
    amounts = [Decimal(b["amount"]) for b in by_time]
    assert amounts == accepted, "sorted by time, the stored amounts strictly increase"
    auction = (
        await Auction.select(Auction.current_price, Auction.bid_count)
        .where(Auction.id == auction_id)
        .first()
    )
    assert auction is not None
    assert Decimal(str(auction["current_price"])).quantize(Decimal("0.01")) == max(accepted)
    assert auction["bid_count"] == len(accepted)
    rows = await Bid.select(Bid.amount, Bid.is_winning).where(Bid.auction == auction_id)
    assert sorted(Decimal(str(r["amount"])).quantize(Decimal("0.01")) for r in rows) == accepted
    winning = [r for r in rows if r["is_winning"]]
    assert len(winning) == 1
    assert Decimal(str(winning[0]["amount"])).quantize(Decimal("0.01")) == max(accepted)
