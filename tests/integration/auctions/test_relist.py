"""Relisting (docs/auction-rules.md § Relist, docs/rest-api.md § Relist): a seller runs an
auction that ended without a sale again (a new auction of the same product, with the same price
and options, linked both ways), or asks for it up front with ``auto_relist``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.notifications.tables import Notification
from madeinpk.orders.tables import Offer, Order, OrderStatus
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_order, make_user
from tests.integration.orders.test_second_chance import bid
from tests.integration.sockets import watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

HOUR = timedelta(hours=1)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def new_times(starts_in: timedelta = timedelta(0), lasts: timedelta = HOUR) -> dict[str, str]:
    start = utc_now() + starts_in
    return {"start_time": stamp(start), "end_time": stamp(start + lasts)}


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def relist(
    client: httpx.AsyncClient, auction_id: int, user: UserHandle | None, body: Any, status: int
) -> dict[str, Any]:
    response = await client.post(
        f"/api/auctions/{auction_id}/relist/", json=body, headers=user.auth if user else {}
    )
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_relist_is_a_new_run_of_the_same_product_and_options(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    old = await make_auction(
        seller,
        status=AuctionStatus.ended,
        ends_in=-HOUR,
        starts_in=-2 * HOUR,
        min_increment="50.00",
        reserve_price="5000.00",
        soft_close_seconds=60,
        buy_now_price="9000.00",
    )
    await bid(old, buyer, "3000.00")  # below the reserve: unsold
    # Relisted to start tomorrow: the new run waits as a scheduled auction (§ 11).
    times = new_times(starts_in=24 * HOUR, lasts=2 * HOUR)
    new = await relist(client, old, seller, {**times, "auto_relist": 2}, 201)
    assert new["id"] != old
    assert (new["relisted_from"], new["relisted_as"], new["auto_relist"]) == (old, None, 2)
    assert (new["status"], new["starting_price"], new["current_price"]) == (
        "scheduled",
        "2500.00",
        "2500.00",
    )
    assert 24 * 3600 - 60 < new["starts_in"] <= 24 * 3600
    assert (
        new["min_increment"],
        new["reserve_price"],
        new["soft_close_seconds"],
        new["buy_now_price"],
    ) == ("50.00", "5000.00", 60, "9000.00")
    assert parse(new["end_time"]) - parse(new["start_time"]) == 2 * HOUR
    assert new["total_bids"] == 0 and new["latest_bids"] == []
    previous = (await client.get(f"/api/auctions/{old}/")).json()
    assert (previous["status"], previous["relisted_as"]) == ("ended", new["id"])
    assert previous["product"]["id"] == new["product"]["id"]
    # The old run's bidder hears that the item is up again.
    [told] = (
        await client.get(
            "/api/notifications/?notification_type=auction_relisted", headers=buyer.auth
        )
    ).json()["results"]
    assert (told["title"], told["auction"]) == ("An auction you bid on was relisted", new["id"])
    assert (
        told["message"] == f"Handwoven Pashmina Shawl is up for auction again: auction {new['id']}."
    )
    # Both runs are listed; the product keeps its one listing.
    mine = (await client.get("/api/auctions/?my_auctions=true", headers=seller.auth)).json()
    assert {a["id"] for a in mine["results"]} == {old, new["id"]}
    product = (await client.get(f"/api/products/{new['product']['id']}/")).json()
    assert product["id"] == new["product"]["id"]
    # Once only; and the running run is not relisted.
    assert await relist(client, old, seller, new_times(), 400) == {
        "error": "This auction has already been relisted"
    }
    assert await relist(client, new["id"], seller, new_times(), 400) == {
        "error": "Only an auction that has ended can be relisted"
    }
    assert await Auction.count() == 2


async def test_what_counts_as_unsold(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    # Sold: the order awaits payment, or was paid.
    for status in (OrderStatus.pending_payment, OrderStatus.paid):
        order = await make_order(seller, buyer, status=status)
        [row] = await Auction.select(Auction.id).where(Auction.id.is_in(await _runs_of(order)))
        assert await relist(client, row["id"], seller, new_times(), 400) == {
            "error": "Only an auction that ended without a sale can be relisted"
        }
    # A missed payment (the run cancelled, the order failed) counts as unsold, unless a
    # second-chance offer of it is still pending.
    missed = await make_order(seller, buyer, status=OrderStatus.payment_failed)
    [run] = await _runs_of(missed)
    await Auction.update({Auction.status: AuctionStatus.cancelled.value}).where(Auction.id == run)
    offer = await Offer.insert(
        Offer(
            order=missed,
            auction=run,
            bidder=buyer.id,
            seller=seller.id,
            amount="2600.00",
            status="pending",
            expires_at=utc_now() + HOUR,
            created_at=utc_now(),
        )
    ).returning(Offer.id)
    assert await relist(client, run, seller, new_times(), 400) == {
        "error": "A second-chance offer for this auction is still pending"
    }
    await Offer.update({Offer.status: "declined"}).where(Offer.id == offer[0]["id"])
    assert (await relist(client, run, seller, new_times(), 201))["relisted_from"] == run


async def _runs_of(order_id: int) -> list[int]:
    rows = await Order.select(Order.auction).where(Order.id == order_id)
    return [r["auction"] for r in rows]


async def test_relist_refusals_change_nothing(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    old = await make_auction(seller, status=AuctionStatus.ended, ends_in=-HOUR)
    other_seller = await make_user(live_server.settings, role=Role.seller)
    assert (await client.post(f"/api/auctions/{old}/relist/", json=new_times())).status_code == 401
    assert await relist(client, old, buyer, new_times(), 403) == {
        "detail": "You do not have permission to perform this action."
    }
    assert await relist(client, old, other_seller, new_times(), 403)
    for missing in (999999, 99999999999):
        response = await client.post(
            f"/api/auctions/{missing}/relist/", json=new_times(), headers=seller.auth
        )
        assert response.status_code == 404
    start = utc_now() + HOUR
    bad: list[tuple[Any, dict[str, list[str]]]] = [
        ({}, {"start_time": ["This field is required."], "end_time": ["This field is required."]}),
        (
            {"start_time": stamp(start), "end_time": stamp(start - HOUR)},
            {"non_field_errors": ["End time must be after start time"]},
        ),
        (
            {"start_time": stamp(start - 3 * HOUR), "end_time": stamp(start - 2 * HOUR)},
            {"end_time": ["End time must be in the future"]},
        ),
        (
            {"start_time": stamp(start), "end_time": stamp(start + timedelta(days=31))},
            {"non_field_errors": ["An auction can last at most 30 days"]},
        ),
        (
            {**new_times(), "auto_relist": 4},
            {"auto_relist": ["Ensure this value is less than or equal to 3."]},
        ),
        (
            {**new_times(), "auto_relist": -1},
            {"auto_relist": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({**new_times(), "auto_relist": "many"}, {"auto_relist": ["A valid integer is required."]}),
        ({"start_time": "tomorrow", "end_time": stamp(start)}, {"start_time": None}),  # type: ignore[dict-item]
    ]
    for body, errors in bad:
        answer = await relist(client, old, seller, body, 400)
        if any(v is None for v in errors.values()):
            assert set(answer) == set(errors), answer
        else:
            assert answer == errors, body
    response = await client.post(
        f"/api/auctions/{old}/relist/", content=b"[1, 2", headers=seller.auth
    )
    assert response.status_code == 400
    assert await Auction.count() == 1


async def test_auto_relist_runs_an_unsold_auction_again_until_the_count_is_spent(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    start = utc_now()
    body = {
        "product_id": None,
        "starting_price": "1000.00",
        "start_time": stamp(start),
        "end_time": stamp(start + timedelta(seconds=3)),
        "reserve_price": "5000.00",
        "auto_relist": 1,
    }
    first = await make_auction(seller, ends_in=timedelta(days=1))  # a product of the seller's
    product = (await client.get(f"/api/auctions/{first}/")).json()["product"]["id"]
    await client.delete(f"/api/auctions/{first}/", headers=seller.auth)
    body["product_id"] = product
    created = (await client.post("/api/auctions/", json=body, headers=seller.auth)).json()
    assert created["auto_relist"] == 1, created
    placed = await client.post(
        f"/api/auctions/{created['id']}/place_bid/", json={"amount": "1500"}, headers=buyer.auth
    )
    assert placed.status_code == 201, placed.text  # below the reserve: the run ends unsold
    async with watch(live_server.url, created["id"]) as watcher:
        assert (await watcher.receive(seconds=10))["type"] == "auction_ended"
    ended = (await client.get(f"/api/auctions/{created['id']}/")).json()
    successor_id = ended["relisted_as"]
    assert successor_id is not None
    successor = (await client.get(f"/api/auctions/{successor_id}/")).json()
    assert (successor["status"], successor["auto_relist"], successor["relisted_from"]) == (
        "active",
        0,
        created["id"],
    )
    assert parse(successor["end_time"]) - parse(successor["start_time"]) == timedelta(seconds=3)
    assert (successor["reserve_price"], successor["total_bids"]) == (None, 0)  # not the seller
    told = {
        r["user"]: r
        for r in await Notification.select(
            Notification.user, Notification.message, Notification.auction
        ).where(Notification.notification_type == "auction_relisted")
    }
    assert told.keys() == {seller.id, buyer.id}
    assert told[seller.id]["auction"] == successor_id == told[buyer.id]["auction"]
    assert "0 automatic relists left" in told[seller.id]["message"]
    # The relisted run's ending was scheduled after commit: it ends on time, and is not
    # relisted again (its count is spent).
    async with watch(live_server.url, successor_id) as watcher:
        assert (await watcher.receive(seconds=10))["type"] == "auction_ended"
    last = (await client.get(f"/api/auctions/{successor_id}/")).json()
    assert (last["status"], last["relisted_as"]) == ("ended", None)
    assert await Auction.count() == 2


async def test_auto_relist_on_create_is_checked(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    form = {
        "name": "Blue Pottery Vase",
        "description": "Multan blue pottery",
        "starting_price": "900",
        **new_times(),
    }
    for value, error in (
        ("5", "Ensure this value is less than or equal to 3."),
        ("x", "A valid integer is required."),
    ):
        response = await client.post(
            "/api/auctions/", data={**form, "auto_relist": value}, headers=seller.auth
        )
        assert response.status_code == 400 and response.json() == {"auto_relist": [error]}
    made = await client.post(
        "/api/auctions/", data={**form, "auto_relist": ""}, headers=seller.auth
    )
    assert made.status_code == 201 and made.json()["auto_relist"] == 0
    patched = await client.patch(
        f"/api/auctions/{made.json()['id']}/", json={"auto_relist": 3}, headers=seller.auth
    )
    assert patched.status_code == 200 and patched.json()["auto_relist"] == 3
