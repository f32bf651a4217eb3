"""Scheduled starts with the real scheduler and worker (Redis topology) or in-process
(embedded): a listing with its start ahead is ``scheduled``, refuses bids with ``not_started``
over REST and the socket, and opens on the second with ``auction_started`` (a ``seq`` event,
stored and replayed), exactly once whoever opens it: its start task, the sweep, or a bid that
reaches the desk while the task is late."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from madeinpk.admin.site import _check_auction_patch, _check_new_auction
from madeinpk.auctions.bidding.desk import BidRequest, decide_batch
from madeinpk.auctions.bidding.rules import Accepted, Bidder
from madeinpk.auctions.lifecycle.starts import start_auctions
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus
from madeinpk.catalog.tables import Product
from madeinpk.timestamps import utc_now
from tests.integration.auctions.test_asyncapi import payload_validator
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, error, socket_url, watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

HOUR = timedelta(hours=1)
NOT_STARTED = "Auction has not started yet"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def listed(client: httpx.AsyncClient, seller: UserHandle, start: datetime) -> int:
    """A REST listing starting at ``start``: the app schedules its start (and ending)."""
    product = await Product.insert(
        Product(seller=seller.id, name="Truck Art Kettle", description="Painted.", condition="new")
    ).returning(Product.id)
    body = {
        "product_id": product[0]["id"],
        "starting_price": "2500.00",
        "start_time": iso(start),
        "end_time": iso(start + HOUR),
    }
    created = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def events_of(auction_id: int) -> list[tuple[int, str]]:
    rows = (
        await AuctionEvent.select(AuctionEvent.seq, AuctionEvent.payload)
        .where(AuctionEvent.auction == auction_id)
        .order_by(AuctionEvent.seq)
    )
    return [(r["seq"], json.loads(r["payload"])["type"]) for r in rows]


async def row_of(auction_id: int) -> dict[str, Any]:
    row = await Auction.select().where(Auction.id == auction_id).first()
    assert row is not None
    return row


async def wait_for_status(auction_id: int, status: str, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if (await row_of(auction_id))["status"] == status:
                return
            await asyncio.sleep(0.05)


async def rest_bid(
    client: httpx.AsyncClient, auction_id: int, who: UserHandle, amount: object
) -> httpx.Response:
    return await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=who.auth
    )


async def test_a_listing_with_its_start_ahead_is_scheduled_and_filtered(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    later = await listed(client, seller, utc_now() + HOUR)
    body = (await client.get(f"/api/auctions/{later}/")).json()
    assert body["status"] == "scheduled" and body["time_remaining"] == 0
    assert 3590 <= body["starts_in"] <= 3600
    now = await listed(client, seller, utc_now())
    started = (await client.get(f"/api/auctions/{now}/")).json()
    assert started["status"] == "active" and "starts_in" not in started  # as it always was
    scheduled = (await client.get("/api/auctions/?status=scheduled")).json()
    assert [a["id"] for a in scheduled["results"]] == [later]
    active = (await client.get("/api/auctions/?status=active")).json()
    assert [a["id"] for a in active["results"]] == [now]
    sooner = await listed(client, seller, utc_now() + HOUR / 2)
    soonest_first = await client.get("/api/auctions/?status=scheduled&ordering=start_time")
    assert [a["id"] for a in soonest_first.json()["results"]] == [sooner, later]
    latest_first = await client.get("/api/auctions/?status=scheduled&ordering=-start_time")
    assert [a["id"] for a in latest_first.json()["results"]] == [later, sooner]
    bad = await client.get("/api/auctions/?status=later")
    assert bad.status_code == 400 and list(bad.json()) == ["status"]
    schema = (await client.get("/schema/openapi.json")).json()
    auction_schema = json.dumps(schema["components"]["schemas"])
    assert '"scheduled"' in auction_schema


async def test_bids_before_the_start_are_refused_on_both_transports(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=HOUR, ends_in=2 * HOUR
    )
    refused = await rest_bid(client, auction_id, buyer, 3000)
    assert (refused.status_code, refused.json()) == (400, {"error": NOT_STARTED})
    blocked = await make_user(live_server.settings, is_blocked=True)
    assert (await rest_bid(client, auction_id, blocked, 3000)).json() == {
        "error": "Your account is blocked"
    }
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
        status = await ws.receive()
        data = status["data"]
        assert (data["status"], data["is_active"], data["seq"]) == ("scheduled", False, 0)
        assert 3590 <= data["starts_in"] <= 3600
        reply = await ws.bid(3000, bid_id="early-1")
        assert reply == {**error(NOT_STARTED, "not_started"), "bid_id": "early-1"}
    async with watch(live_server.url, auction_id, seller.token) as ws:
        assert await ws.bid(3000) == error(NOT_STARTED, "not_started")
    row = await row_of(auction_id)
    assert (row["status"], row["seq"], row["bid_count"]) == ("scheduled", 0, 0)
    assert await events_of(auction_id) == []


async def test_the_start_task_opens_it_on_the_second_before_any_bid(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    start = utc_now() + timedelta(seconds=3)
    auction_id = await listed(client, seller, start)
    async with watch(live_server.url, auction_id, snapshot=False) as watcher:
        first = await watcher.receive()
        assert first["data"]["status"] == "scheduled" and first["data"]["starts_in"] >= 1
        started = await watcher.receive(seconds=10)
        received_at = utc_now()
        assert started == {
            "type": "auction_started",
            "seq": 1,
            "data": {
                "auction_id": auction_id,
                "seq": 1,
                "start_time": iso(start),
                "end_time": iso(start + HOUR),
            },
        }
        lateness = (received_at - start).total_seconds()
        assert 0 <= lateness < 1.5, f"auction_started arrived {lateness:.2f}s after the start"
        print(f"auction_started {lateness * 1000:.0f} ms after the start time")
        assert (await rest_bid(client, auction_id, buyer, 2600)).status_code == 201
        new_bid = await watcher.receive()
        assert new_bid["type"] == "new_bid" and new_bid["data"]["seq"] == 2
    assert await events_of(auction_id) == [(1, "auction_started"), (2, "new_bid")]
    # What was sent is what the AsyncAPI document describes.
    document = (await client.get("/schema/asyncapi.json")).json()
    stored = await AuctionEvent.select(AuctionEvent.payload).where(
        (AuctionEvent.auction == auction_id) & (AuctionEvent.seq == 1)
    )
    payload_validator(document, "auction_started").validate(json.loads(stored[0]["payload"]))
    payload_validator(document, "auction_status").validate({**first, "server_time": iso(start)})
    # Replayed as stored, in order; the snapshot is active and has no starts_in any more.
    async with websockets.connect(socket_url(live_server.url, auction_id) + "?since_seq=0") as c:
        ws = Watch(c)
        status = await ws.receive()
        assert status["data"]["status"] == "active" and status["data"]["seq"] == 2
        assert "starts_in" not in status["data"]
        replayed = [await ws.receive(), await ws.receive()]
        assert [(m["type"], m["replay"]) for m in replayed] == [
            ("auction_started", True),
            ("new_bid", True),
        ]
        assert replayed[0]["seq"] == 1


async def test_starting_happens_exactly_once_whoever_runs_it(
    live_server: LiveServer, seller: UserHandle
) -> None:
    due = [
        await make_auction(seller, status=AuctionStatus.scheduled, starts_in=-timedelta(seconds=1))
        for _ in range(4)
    ]
    batches = await asyncio.gather(
        *(start_auctions([auction_id]) for auction_id in due),
        *(start_auctions() for _ in range(3)),
    )
    opened = [s.auction_id for b in batches for s in b.started]
    # The sweep may have opened some first: whoever did, each opened once.
    for batch in batches:
        live_server.effects.flush(batch.done)
    assert len(opened) == len(set(opened))
    for auction_id in due:
        assert await events_of(auction_id) == [(1, "auction_started")]
        row = await row_of(auction_id)
        assert (row["status"], row["seq"]) == ("active", 1)
    again = await start_auctions(due)
    assert again.started == [] and again.still_scheduled == {}


async def test_a_bid_that_beats_a_late_start_task_opens_the_auction_first(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    """No start task was scheduled: the bid, decided under the row lock, opens the auction
    (``auction_started`` first, then its ``new_bid``) instead of being refused."""
    auction_id = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=-timedelta(milliseconds=1)
    )
    bidder = Bidder(buyer.id, buyer.username, buyer.email)
    outcomes, done, known = await decide_batch(
        auction_id, [BidRequest(auction_id, bidder, Decimal("2600.00"))]
    )
    live_server.effects.flush(done)
    [outcome] = outcomes
    assert isinstance(outcome, Accepted) and outcome.seq == 2
    assert [json.loads(p)["type"] for _, _, p in done.events] == ["auction_started", "new_bid"]
    assert known is not None and known.state.status == "active" and known.state.seq == 2
    assert await events_of(auction_id) == [(1, "auction_started"), (2, "new_bid")]


async def test_the_desks_known_state_goes_the_locked_way_when_the_start_comes(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    """A refusal leaves the desk a known (scheduled) state; the next bid after the start time
    must not be judged on it without opening the auction."""
    start = utc_now() + timedelta(milliseconds=400)
    auction_id = await make_auction(
        seller, status=AuctionStatus.scheduled, starts_in=start - utc_now()
    )
    early = await rest_bid(client, auction_id, buyer, 2600)
    assert early.json() == {"error": NOT_STARTED}
    await asyncio.sleep(max(0.0, (start - utc_now()).total_seconds()) + 0.05)
    response = await rest_bid(client, auction_id, buyer, 2600)
    assert response.status_code == 201, response.text
    assert await events_of(auction_id) == [(1, "auction_started"), (2, "new_bid")]


async def test_moving_the_start_reschedules_it(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    auction_id = await listed(client, seller, utc_now() + HOUR)
    url = f"/api/auctions/{auction_id}/"
    start = utc_now() + timedelta(seconds=2)
    moved = await client.patch(url, json={"start_time": iso(start)}, headers=seller.auth)
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "scheduled" and moved.json()["starts_in"] <= 2
    async with watch(live_server.url, auction_id) as watcher:
        started = await watcher.receive(seconds=10)
    assert started["type"] == "auction_started" and started["data"]["start_time"] == iso(start)
    assert (await row_of(auction_id))["status"] == "active"
    # An open auction nobody has bid on may be postponed: scheduled again, then withdrawn.
    postponed = await client.patch(
        url, json={"start_time": iso(utc_now() + HOUR)}, headers=seller.auth
    )
    assert postponed.json()["status"] == "scheduled"
    assert (await client.delete(url, headers=seller.auth)).status_code == 204


async def test_the_sweep_opens_then_ends_what_no_task_was_scheduled_for(
    seller: UserHandle,
) -> None:
    opens = await make_auction(seller, status=AuctionStatus.scheduled, starts_in=-HOUR)
    passed = await make_auction(
        seller,
        status=AuctionStatus.scheduled,
        starts_in=-2 * HOUR,
        ends_in=-timedelta(seconds=1),
    )
    await wait_for_status(opens, "active", 5)
    await wait_for_status(passed, "ended", 8)
    assert await events_of(opens) == [(1, "auction_started")]
    assert await events_of(passed) == [(1, "auction_started"), (2, "auction_ended")]


async def test_the_admin_saves_a_start_ahead_as_scheduled(seller: UserHandle) -> None:
    """The admin's hooks (piccolo_admin calls them before it writes) give the REST rules."""
    new = Auction(
        product=1,  # never written: only the hook sees it
        starting_price=Decimal("100.00"),
        current_price=Decimal("100.00"),
        start_time=utc_now() + HOUR,
        end_time=utc_now() + 2 * HOUR,
        status=AuctionStatus.active.value,
    )
    assert (await _check_new_auction(new)).status == "scheduled"
    now = Auction(
        product=1,
        starting_price=Decimal("100.00"),
        start_time=utc_now(),
        end_time=utc_now() + HOUR,
        status=AuctionStatus.active.value,
    )
    assert (await _check_new_auction(now)).status == "active"
    open_one = await make_auction(seller)
    later = iso(utc_now() + HOUR)
    patched = await _check_auction_patch(open_one, {"start_time": later})
    assert patched == {"start_time": later, "status": "scheduled"}
    earlier = iso(utc_now() - HOUR)
    assert await _check_auction_patch(open_one, {"start_time": earlier}) == {"start_time": earlier}
    ended = await make_auction(seller, status=AuctionStatus.ended)
    assert await _check_auction_patch(ended, {"start_time": later}) == {"start_time": later}
