"""Replay after reconnect (``?since_seq=N``, docs/websocket.md § 7) over real sockets."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
import websockets

from madeinpk.auctions.bidding.rules import NewBidEvent
from madeinpk.auctions.events import new_bid_payload
from madeinpk.auctions.tables import Auction, AuctionEvent
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, error, socket_url, watch

pytestmark = pytest.mark.usefixtures("task_worker")


async def stored(auction_id: int) -> dict[int, str]:
    rows = await AuctionEvent.select(AuctionEvent.seq, AuctionEvent.payload).where(
        AuctionEvent.auction == auction_id
    )
    return {r["seq"]: r["payload"] for r in rows}


async def raw_frames(ws: Watch, count: int) -> list[str]:
    frames = []
    for _ in range(count):
        raw = await asyncio.wait_for(ws.connection.recv(), 5)
        assert isinstance(raw, str)
        frames.append(raw)
    return frames


async def test_replay_sends_the_missed_events_exactly_as_broadcast_then_live_ones(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id, buyer.token) as bidder:
        for amount in (2600, 2700, 2800, 2900):
            assert (await bidder.bid(amount))["type"] == "new_bid"
    log = await stored(auction_id)
    assert sorted(log) == [1, 2, 3, 4]
    url = socket_url(live_server.url, auction_id) + "?since_seq=1"
    async with websockets.connect(url) as connection:
        ws = Watch(connection)
        status = await ws.receive()
        assert status["type"] == "auction_status" and status["data"]["seq"] == 4
        frames = await raw_frames(ws, 3)
        for seq, frame in zip((2, 3, 4), frames, strict=True):
            assert frame == '{"replay":true,' + log[seq][1:]
            message = json.loads(frame)
            assert message["replay"] is True and message["data"]["seq"] == seq
        assert await ws.silent()
        async with watch(live_server.url, auction_id, buyer.token) as bidder:
            live = await bidder.bid(3000)
        after = await ws.receive()
        assert after == live and "replay" not in after and after["data"]["seq"] == 5


async def test_since_seq_at_or_past_the_current_seq_replays_nothing(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id, buyer.token) as bidder:
        await bidder.bid(2600)
    # Up to 10 digits, as the docs allow: past the column's range is past every seq there is.
    for since in (1, 99, 2147483647, 2147483648, 9999999999):
        url = socket_url(live_server.url, auction_id) + f"?since_seq={since}"
        async with websockets.connect(url) as connection:
            ws = Watch(connection)
            assert (await ws.receive())["type"] == "auction_status"
            assert await ws.silent()


async def test_since_seq_zero_replays_every_event_of_the_auction(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id, buyer.token) as bidder:
        for amount in (2600, 2700):
            await bidder.bid(amount)
    url = socket_url(live_server.url, auction_id, buyer.token) + "&since_seq=0"
    async with websockets.connect(url) as connection:
        ws = Watch(connection)
        assert (await ws.receive())["type"] == "auction_status"
        replayed = [await ws.receive() for _ in range(2)]
    assert [(m["replay"], m["data"]["seq"], m["data"]["amount"]) for m in replayed] == [
        (True, 1, "2600.00"),
        (True, 2, "2700.00"),
    ]


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", "", "99999999999", "٣"])
async def test_a_bad_since_seq_is_an_error_then_close_4400(
    live_server: LiveServer, seller: UserHandle, bad: str
) -> None:
    auction_id = await make_auction(seller)
    url = socket_url(live_server.url, auction_id) + f"?since_seq={bad}"
    async with websockets.connect(url) as connection:
        ws = Watch(connection)
        assert await ws.receive() == error(
            "Invalid since_seq: use a whole number, 0 or more", "invalid_message"
        )
        assert await ws.closed_with() == (4400, "Invalid since_seq")


async def test_reconnecting_during_a_bid_stream_loses_and_repeats_nothing(
    live_server: LiveServer, seller: UserHandle
) -> None:
    """The seam: bids keep landing while a watcher reconnects with the last seq it saw, again
    and again; what it receives is 1, 2, 3, … without a gap or a repeat."""
    auction_id = await make_auction(seller)
    bidders = [await make_user(live_server.settings) for _ in range(2)]
    total = 40
    done = asyncio.Event()

    async def bid_stream() -> None:
        async with (
            watch(live_server.url, auction_id, bidders[0].token) as a,
            watch(live_server.url, auction_id, bidders[1].token) as b,
        ):
            for n in range(total):
                reply = await (a, b)[n % 2].bid(2600 + 10 * n)
                assert reply["type"] == "new_bid", reply
                await (b, a)[n % 2].receive()  # the other bidder's copy
                await asyncio.sleep(0.1)  # under BID_RATE_LIMIT (10 a second per bidder)
        done.set()

    seen: list[int] = []
    stream = asyncio.create_task(bid_stream())
    async with asyncio.timeout(90):
        await follow(live_server.url, auction_id, seen, total, done)
    await stream
    assert seen == list(range(1, total + 1))


async def follow(
    url: str, auction_id: int, seen: list[int], total: int, done: asyncio.Event
) -> None:
    """Reconnect after every few events, each time with the last seq seen."""
    while not (done.is_set() and seen and seen[-1] == total):
        since = seen[-1] if seen else 0
        with_since = socket_url(url, auction_id) + f"?since_seq={since}"
        async with websockets.connect(with_since) as connection:
            ws = Watch(connection)
            status = await ws.receive()
            assert status["type"] == "auction_status"
            assert status["data"]["seq"] >= since
            for _ in range(3):  # a few events, then drop the connection mid-stream
                try:
                    message: dict[str, Any] = await ws.receive(seconds=1)
                except TimeoutError:
                    break
                seen.append(message["data"]["seq"])


async def commit_without_publishing(auction_id: int, seq: int, bidder: str, amount: str) -> str:
    """What a process that died between commit and publish leaves: the event is in the log and
    the auction's seq moved, but no watcher was told."""
    payload = new_bid_payload(
        NewBidEvent(seq, bidder, Decimal(amount), utc_now(), False, seq, Decimal(amount) + 1)
    ).decode()
    await Auction.update({Auction.seq: seq, Auction.current_price: Decimal(amount)}).where(
        Auction.id == auction_id
    )
    await AuctionEvent.insert(
        AuctionEvent(auction=auction_id, seq=seq, payload=payload, created_at=utc_now())
    )
    return payload


async def test_an_event_whose_publish_was_lost_reaches_watchers_from_the_log(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller)
    async with (
        watch(live_server.url, auction_id) as spectator,
        watch(live_server.url, auction_id, buyer.token) as bidder,
    ):
        lost = await commit_without_publishing(auction_id, 1, "ghost", "2600.00")
        await bidder.send({"type": "place_bid", "amount": 2700})  # seq 2, published
        for ws in (spectator, bidder):  # the gap at 1 is filled from the log
            assert await ws.connection.recv() == lost
            reply = await ws.receive()
            assert reply["type"] == "new_bid" and reply["data"]["amount"] == "2700.00"
            assert reply["data"]["seq"] == 2
        assert (await bidder.receive())["type"] == "bid_accepted"
        # The last event's publish lost, and no later event to reveal the gap: the tail check.
        tail = await commit_without_publishing(auction_id, 3, "ghost", "2800.00")
        assert await asyncio.wait_for(spectator.connection.recv(), 10) == tail
        tail_message = json.loads(tail)
        del tail_message["server_time"]
        assert await bidder.receive(seconds=10) == tail_message


async def test_a_reconnect_past_what_this_process_released_repeats_nothing(
    live_server: LiveServer, seller: UserHandle
) -> None:
    """A client saw event 1 on another process, which delivered it to its own watchers and
    died before publishing it; the client reconnects here with ``since_seq=1``, where the room
    (warm with another watcher) has not released 1. Its status is read afresh, and event 1,
    when the room fills it from the log, is not sent to it a second time."""
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id) as spectator:  # the room is warm at seq 0
        lost = await commit_without_publishing(auction_id, 1, "ghost", "2600.00")
        url = socket_url(live_server.url, auction_id) + "?since_seq=1"
        async with websockets.connect(url) as connection:
            ws = Watch(connection)
            status = await ws.receive()
            assert status["type"] == "auction_status"
            assert (status["data"]["seq"], status["data"]["current_price"]) == (1, "2600.00")
            assert await asyncio.wait_for(spectator.connection.recv(), 10) == lost  # the fill
            assert await ws.silent()
