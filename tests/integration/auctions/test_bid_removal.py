"""Removing a bid (docs/auction-rules.md § 10): staff removal and a bidder's retraction over REST
and the socket, recounted by the rule core, decided by the bid desk in order with bids, flagged
in the audit trail, broadcast as ``bid_removed`` and replayable."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.admin.site import BIDS_READ_ONLY
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.notifications.tables import Notification
from tests.integration.auctions.test_asyncapi import payload_validator
from tests.integration.auctions.test_auction_options_api import admin_session
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import error, socket_url, watch

pytestmark = pytest.mark.usefixtures("task_worker")
HOURS = timedelta(hours=2)


def bid_url(auction_id: int) -> str:
    return f"/api/auctions/{auction_id}/place_bid/"


async def place(
    client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: str, top: str = ""
) -> dict[str, Any]:
    body = {"amount": amount} | ({"max_amount": top} if top else {})
    response = await client.post(bid_url(auction_id), json=body, headers=user.auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def bids_of(auction_id: int) -> list[dict[str, Any]]:
    return list(
        await Bid.select(
            Bid.id,
            Bid.bidder,
            Bid.amount,
            Bid.is_auto,
            Bid.is_winning,
            Bid.removed_at,
            Bid.removed_by,
            Bid.removed_with,
            Bid.max_amount,
        )
        .where(Bid.auction == auction_id)
        .order_by(Bid.seq)
    )


async def row(auction_id: int) -> dict[str, Any]:
    found = (
        await Auction.select(
            Auction.current_price,
            Auction.leader,
            Auction.leader_max,
            Auction.bid_count,
            Auction.seq,
        )
        .where(Auction.id == auction_id)
        .first()
    )
    assert found is not None
    return dict(found)


async def test_staff_remove_a_leading_bid_and_the_proxies_are_recounted(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    settings = live_server.settings
    ali, sara, zain = [await make_user(settings) for _ in range(3)]
    staff = await make_user(settings, staff=True)
    auction = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    # The worked example: A 1100 (max 2000); B 1200 → A 1300 auto; B 1400 (max 2500) → A 2000
    # auto, B 2100.
    await place(client, auction, ali, "1100", "2000")
    await place(client, auction, sara, "1200")
    leading = await place(client, auction, sara, "1400", "2500")
    assert leading["amount"] == "2100.00" and leading["is_leading"] is True
    stored = await bids_of(auction)
    assert [b["max_amount"] for b in stored] == [
        pytest.approx(2000),
        None,
        None,
        None,
        pytest.approx(2500),
    ]
    feed_url = live_server.url.replace("http", "ws", 1) + f"/ws/notifications/?token={sara.token}"
    async with (
        watch(live_server.url, auction) as spectator,
        websockets.connect(feed_url) as feed,
    ):
        assert json.loads(await feed.recv())["type"] == "unread_count"
        response = await client.post(f"/api/bids/{leading['id']}/remove/", headers=staff.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        event = await spectator.receive()
        pushed = json.loads(await asyncio.wait_for(feed.recv(), 5))
    # The owner hears it on /ws/notifications/ at once.
    assert pushed["type"] == "notification"
    assert pushed["data"]["notification_type"] == "bid_removed"
    assert pushed["data"]["message"] == (
        "Your bid of Rs. 2100.00 on Handwoven Pashmina Shawl was removed by our staff."
    )
    # B's 2100 goes, and with it A's 2000 that answered it: A leads again at 1300 (max 2000).
    assert event["type"] == "bid_removed" and event["seq"] == 6
    assert event["data"] == body
    assert body["bid_id"] == leading["id"] and body["seq"] == 6
    assert body["current_price"] == "1300.00" and body["leader"] == ali.username
    assert body["removed"] == [leading["id"], stored[3]["id"]]
    assert body["total_bids"] == 3 and body["min_next_bid"] == "1400.00"
    assert [(b["bidder"], b["amount"], b["auto"]) for b in body["latest_bids"]] == [
        (ali.username, "1300.00", True),
        (sara.username, "1200.00", False),
        (ali.username, "1100.00", False),
    ]
    after = await row(auction)
    assert (after["current_price"], after["leader"], after["bid_count"], after["seq"]) == (
        pytest.approx(1300),
        ali.id,
        3,
        6,
    )
    assert after["leader_max"] == pytest.approx(2000)
    flagged = {b["id"]: b for b in await bids_of(auction)}
    assert flagged[leading["id"]]["removed_by"] == staff.id
    assert flagged[leading["id"]]["removed_with"] is None
    assert flagged[stored[3]["id"]]["removed_with"] == leading["id"]
    assert [b["id"] for b in flagged.values() if b["is_winning"]] == [stored[2]["id"]]
    # The public history hides them; the owner and the new leader are told.
    listed = (await client.get(f"/api/auctions/{auction}/bids/")).json()
    assert [b["amount"] for b in listed] == ["1300.00", "1200.00", "1100.00"]
    notes = await Notification.select(Notification.user, Notification.notification_type).where(
        Notification.notification_type.is_in(["bid_removed", "lead_regained"])
    )
    assert sorted((n["user"], n["notification_type"]) for n in notes) == sorted(
        [(sara.id, "bid_removed"), (ali.id, "lead_regained")]
    )
    # The next bid is judged on the recounted state (A's 2000 maximum defends).
    answer = await place(client, auction, zain, "1500")
    assert answer["is_leading"] is False and answer["current_price"] == "1600.00"
    state = (await client.get(f"/api/auctions/{auction}/")).json()
    assert state["current_price"] == "1600.00" and state["total_bids"] == 5


async def test_refusals_and_bad_ids(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    settings = live_server.settings
    ali, sara = await make_user(settings), await make_user(settings)
    staff = await make_user(settings, staff=True)
    auction = await make_auction(seller, ends_in=HOURS)
    mine = await place(client, auction, ali, "2600", "3000")
    auto = await place(client, auction, sara, "2700")  # ali's proxy answers at once
    assert auto["is_leading"] is False
    auto_id = next(b["id"] for b in await bids_of(auction) if b["is_auto"])

    async def post(path: str, user: UserHandle | None) -> tuple[int, Any]:
        response = await client.post(path, headers=user.auth if user else {})
        return response.status_code, response.json()

    assert await post(f"/api/bids/{mine['id']}/remove/", None) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    assert await post(f"/api/bids/{mine['id']}/remove/", sara) == (
        403,
        {"error": "Only staff may remove another bidder's bid"},
    )
    assert await post(f"/api/bids/{mine['id']}/retract/", sara) == (
        403,
        {"error": "You can only retract your own bid"},
    )
    for bad in ("999999", "0"):
        assert await post(f"/api/bids/{bad}/remove/", staff) == (404, {"error": "Bid not found"})
    for path in ("abc", "-1", "1.5", "99999999999"):  # no bid id at all: the protocol 404
        assert await post(f"/api/bids/{path}/remove/", staff) == (404, {"detail": "Not found."})
    assert await post(f"/api/bids/{auto_id}/remove/", staff) == (
        400,
        {"error": "Automatic bids cannot be removed: remove the bid that set the maximum"},
    )
    seq = (await row(auction))["seq"]
    assert (await post(f"/api/bids/{mine['id']}/retract/", ali))[0] == 200
    assert await post(f"/api/bids/{mine['id']}/remove/", staff) == (
        409,
        {"error": "This bid has already been removed"},
    )
    assert (await row(auction))["seq"] == seq + 1  # refusals changed nothing
    ended = await make_auction(seller, starts_in=-HOURS, ends_in=HOURS)
    late = await place(client, ended, ali, "2600")
    await Auction.update({Auction.status: AuctionStatus.ended.value}).where(Auction.id == ended)
    assert await post(f"/api/bids/{late['id']}/remove/", staff) == (
        400,
        {"error": "Auction is not active"},
    )


async def test_a_bidder_retracts_within_the_window_only(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    settings = live_server.settings
    ali, sara = await make_user(settings), await make_user(settings)
    auction = await make_auction(seller, ends_in=HOURS)
    first = await place(client, auction, ali, "2600")
    async with (
        watch(live_server.url, auction, ali.token) as bidder,
        watch(live_server.url, auction) as spectator,
    ):
        second = await bidder.bid("2700")
        assert second["type"] == "new_bid"
        await spectator.receive()
        # Over the socket, without an id: the sender's latest bid.
        await bidder.send({"type": "retract_bid"})
        removed = await bidder.receive()
        assert removed == await spectator.receive()
        assert removed["type"] == "bid_removed" and removed["data"]["current_price"] == "2600.00"
        assert removed["data"]["leader"] == ali.username
        # Too late: the first bid is older than RETRACT_SECONDS (60) by now.
        await Bid.update({Bid.bid_time: Bid.bid_time - timedelta(seconds=61)}).where(
            Bid.id == first["id"]
        )
        await bidder.send({"type": "retract_bid", "id": first["id"]})
        assert await bidder.receive() == error(
            "A bid can only be retracted within 60 seconds of placing it", "retract_too_late"
        )
        # Not one's own, unknown, of another auction, malformed.
        sara_bid = await place(client, auction, sara, "2800")
        await spectator.receive()
        assert (await bidder.receive())["type"] == "new_bid"
        await bidder.send({"type": "retract_bid", "id": sara_bid["id"]})
        assert await bidder.receive() == error("You can only retract your own bid", "not_your_bid")
        other = await make_auction(seller, ends_in=HOURS)
        elsewhere = await place(client, other, ali, "2600")
        for unknown in (elsewhere["id"], 999999):
            await bidder.send({"type": "retract_bid", "id": unknown})
            assert await bidder.receive() == error("Bid not found", "unknown_bid")
        await bidder.send({"type": "retract_bid", "id": "seven"})
        reply = await bidder.receive()
        assert reply["type"] == "error" and reply["code"] == "invalid_message"
        assert await spectator.silent()
    # A spectator may not retract; REST within the window works.
    async with watch(live_server.url, auction) as anonymous:
        await anonymous.send({"type": "retract_bid"})
        assert await anonymous.receive() == error(
            "You must be authenticated to retract a bid", "unauthenticated"
        )
    response = await client.post(f"/api/bids/{sara_bid['id']}/retract/", headers=sara.auth)
    assert response.status_code == 200 and response.json()["current_price"] == "2600.00"


async def test_no_retraction_in_the_last_hour(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    ali = await make_user(live_server.settings)
    staff = await make_user(live_server.settings, staff=True)
    auction = await make_auction(seller, ends_in=timedelta(minutes=59))
    bid = await place(client, auction, ali, "2600")
    response = await client.post(f"/api/bids/{bid['id']}/retract/", headers=ali.auth)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Bids cannot be retracted in the last hour of an auction"},
    )
    # Staff still may.
    response = await client.post(f"/api/bids/{bid['id']}/remove/", headers=staff.auth)
    assert response.status_code == 200 and response.json()["leader"] is None
    assert (await row(auction))["current_price"] == pytest.approx(2500)


async def test_removals_are_decided_in_order_with_concurrent_bids_and_replayed(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    settings = live_server.settings
    bidders = [await make_user(settings) for _ in range(4)]
    staff = await make_user(settings, staff=True)
    auction = await make_auction(seller, starting_price="1000.00", ends_in=HOURS)
    first = await place(client, auction, bidders[0], "1100", "1500")
    async with watch(live_server.url, auction) as spectator:

        async def bid(index: int) -> None:
            user = bidders[1 + index % 3]
            await client.post(
                bid_url(auction), json={"amount": str(1200 + index * 50)}, headers=user.auth
            )

        remove = client.post(f"/api/bids/{first['id']}/remove/", headers=staff.auth)
        before = [bid(i) for i in range(6)]
        after = [bid(i) for i in range(6, 12)]
        results = await asyncio.gather(*before, remove, *after)
        removal = results[6]
        assert isinstance(removal, httpx.Response)
        assert removal.status_code == 200, removal.text
        final = await row(auction)
        live: list[dict[str, Any]] = []
        while not live or live[-1]["data"]["seq"] < final["seq"]:
            live.append(await spectator.receive())
    seqs = [m["data"]["seq"] for m in live]
    assert seqs == list(range(2, final["seq"] + 1))  # gap-free, in order, each once
    assert [m["type"] for m in live].count("bid_removed") == 1
    stored = await bids_of(auction)
    winning = [b for b in stored if b["is_winning"]]
    assert len(winning) == 1 and winning[0]["removed_at"] is None
    assert winning[0]["amount"] == pytest.approx(float(final["current_price"]))
    assert final["bid_count"] == sum(b["removed_at"] is None for b in stored)
    # Replay from 0: the same events as broadcast, the removal among them, flagged replay.
    url = socket_url(live_server.url, auction) + "?since_seq=0"
    async with websockets.connect(url) as replaying:
        status = json.loads(await replaying.recv())
        assert status["data"]["seq"] == final["seq"]
        replayed = [json.loads(await replaying.recv()) for _ in range(final["seq"])]
    assert all(m.pop("replay") is True for m in replayed)
    for sent, again in zip(live, replayed[1:], strict=True):
        again.pop("server_time")
        assert again == sent
    logged = await AuctionEvent.select(AuctionEvent.seq).where(AuctionEvent.auction == auction)
    assert sorted(e["seq"] for e in logged) == list(range(1, final["seq"] + 1))


async def test_removal_frames_match_the_asyncapi_document(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    document = (await client.get("/schema/asyncapi.json")).json()
    ali = await make_user(live_server.settings)
    auction = await make_auction(seller, ends_in=HOURS)
    await place(client, auction, ali, "2600")
    frames: list[tuple[str, dict[str, Any]]] = [("retract_bid", {"type": "retract_bid"})]
    async with websockets.connect(socket_url(live_server.url, auction, ali.token)) as ws:
        await ws.recv()  # auction_status
        await ws.send(json.dumps({"type": "retract_bid"}))
        frames.append(("bid_removed", json.loads(await ws.recv())))
        await ws.send(json.dumps({"type": "retract_bid", "id": 1}))
        frames.append(("error", json.loads(await ws.recv())))
    assert frames[2][1]["code"] in ("unknown_bid", "already_removed")
    for name, frame in frames:
        assert frame["type"] == name
        assert not list(payload_validator(document, name).iter_errors(frame)), frame
    broken = {**frames[1][1], "data": {**frames[1][1]["data"], "current_price": 2500}}
    assert list(payload_validator(document, "bid_removed").iter_errors(broken))


async def test_the_endpoints_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for action, operation_id in (("remove", "RemoveBid"), ("retract", "RetractBid")):
        operation = document["paths"][f"/api/bids/{{bid_id}}/{action}"]["post"]
        assert operation["operationId"] == operation_id
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("BidRemovedData")
    fields = document["components"]["schemas"]["BidRemovedData"]["properties"]
    assert {"bid_id", "current_price", "leader", "seq", "removed", "latest_bids"} <= set(fields)


async def test_the_admin_shows_bids_but_changes_none(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    """A bid edited, added or deleted by hand would skip the recount: the admin refuses all."""
    staff = await make_user(live_server.settings, role=Role.admin, staff=True)
    ali = await make_user(live_server.settings)
    auction = await make_auction(seller, ends_in=HOURS)
    await place(client, auction, ali, "2600")
    [before] = await bids_of(auction)
    url = f"/admin/api/tables/bid/{before['id']}/"
    async with admin_session(live_server, staff.username) as admin:
        shown = await admin.get(url)
        assert shown.status_code == 200 and shown.json()["id"] == before["id"]
        for refused in (
            await admin.patch(url, json={"removed_at": "2026-01-01T00:00:00"}),
            await admin.patch(url, json={"amount": "9000.00"}),
            await admin.delete(url),
            await admin.post(
                "/admin/api/tables/bid/",
                json={"auction": auction, "bidder": ali.id, "amount": "9000.00"},
            ),
        ):
            assert refused.status_code == 400, refused.text
            assert BIDS_READ_ONLY in refused.text
    assert await bids_of(auction) == [before]
    assert (await row(auction))["current_price"] == before["amount"]
