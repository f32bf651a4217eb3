"""Buy It Now (docs/auction-rules.md, "Buy It Now") over REST and the auction socket: the auction
ends at once for the buyer with its order, notices and emails, as an ending does; decided in
order with the bids by the one bid desk; refusals and bad input change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.after_commit import end_schedule_id
from madeinpk.auctions.tables import Auction, AuctionEvent, Bid
from madeinpk.notifications.tables import Notification
from madeinpk.orders.tables import Order
from tests.integration.auctions.test_auction_options_api import (
    admin_session,
    create_body,
    iso,
    jpeg,
    own_product,
)
from tests.integration.auctions.test_auction_owners import (
    metric,
    metrics_of,
    needs_redis,
    two_apps,
)
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.notifications.test_notification_socket import alerts
from tests.integration.processes import AppProcess
from tests.integration.sockets import Watch, error, socket_url, watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")
__all__ = ["two_apps"]  # two real app processes (production topology)

NAME = "Handwoven Pashmina Shawl"
NOT_ACTIVE = "Auction is not active"
CLOSED = "Buy It Now is no longer available on this auction"


@pytest.fixture
async def rival(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def buy_now(
    client: httpx.AsyncClient, auction_id: int, user: UserHandle | None, key: str | None = None
) -> httpx.Response:
    headers = dict(user.auth) if user else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(f"/api/auctions/{auction_id}/buy_now/", headers=headers)


async def bid(client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: str) -> int:
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=user.auth
    )
    return response.status_code


async def notifications_of(user: UserHandle) -> dict[str, str]:
    rows = await Notification.select().where(Notification.user == user.id)
    return {r["notification_type"]: r["message"] for r in rows}


def watch_schedules(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happens to scheduled endings from now on: ``+id`` added, ``-id`` deleted."""
    source, changes = live_server.effects.schedule_source, []
    delete, add = source.delete_schedule, source.add_schedule

    async def deleting(schedule_id: str) -> None:
        changes.append(f"-{schedule_id}")
        await delete(schedule_id)

    async def adding(schedule: Any) -> None:
        changes.append(f"+{schedule.schedule_id}")
        await add(schedule)

    monkeypatch.setattr(source, "delete_schedule", deleting)
    monkeypatch.setattr(source, "add_schedule", adding)
    return changes


def ended_data(auction_id: int, buyer: UserHandle, seq: int, price: str = "5000.00") -> dict:
    return {
        "auction_id": auction_id,
        "winner": buyer.username,
        "final_price": price,
        "status": "ended",
        "product_name": NAME,
        "message": f"Auction ended. Winner: {buyer.username} at Rs. {price}",
        "seq": seq,
        "reserve_met": None,
        "buy_now": True,
    }


async def test_rest_buy_now_ends_the_auction_with_its_order_notices_and_emails(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    inbox: SmtpInbox,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auction_id = await make_auction(seller, buy_now_price="5000.00")
    end_time = (await Auction.select(Auction.end_time).where(Auction.id == auction_id))[0]
    await live_server.schedule_auction_end(auction_id, end_time["end_time"])
    schedules = watch_schedules(live_server, monkeypatch)
    assert await bid(client, auction_id, rival, "2600") == 201
    body = (await client.get(f"/api/auctions/{auction_id}/")).json()
    assert (body["buy_now_price"], body["buy_now_open"], body["bought_now"]) == (
        "5000.00",
        True,
        False,
    )
    async with watch(live_server.url, auction_id) as watcher:
        response = await buy_now(client, auction_id, buyer, key="buy-1")
        assert response.status_code == 201, response.text
        ended = await watcher.receive()
    assert ended == {"type": "auction_ended", "data": ended_data(auction_id, buyer, 2)}
    answer = response.json()
    assert {k: answer[k] for k in ("message", "auction_id", "price", "seq")} == {
        "message": "You bought it with Buy It Now. Please complete payment.",
        "auction_id": auction_id,
        "price": "5000.00",
        "seq": 2,
    }
    [order] = await Order.select().where(Order.auction == auction_id)
    assert answer["order"]["order_id"] == order["id"]
    assert answer["order"]["order_number"] == order["order_number"]
    assert answer["order"]["total_amount"] == "5000.00"
    assert (order["buyer"], order["seller"], order["status"]) == (
        buyer.id,
        seller.id,
        "pending_payment",
    )
    row = await Auction.select().where(Auction.id == auction_id).first()
    assert row is not None
    assert (row["status"], row["winner"], row["bought_now"], row["seq"]) == (
        "ended",
        buyer.id,
        True,
        2,
    )
    assert f"{row['current_price']:.2f}" == "5000.00"
    assert await Bid.count().where((Bid.auction == auction_id) & Bid.is_winning.eq(True)) == 0
    # a retry with the same key gets the same answer and changes nothing; a new one is refused
    again = await buy_now(client, auction_id, buyer, key="buy-1")
    assert (again.status_code, again.json()) == (201, answer)
    late = await buy_now(client, auction_id, rival)
    assert (late.status_code, late.json()) == (400, {"error": NOT_ACTIVE})
    assert await Order.count().where(Order.auction == auction_id) == 1
    # told as an ending tells it: the buyer, the other bidder, the seller; once each
    url = f"{live_server.settings.site_url}/orders/{order['order_number']}/pay/"
    assert (await notifications_of(buyer))["auction_won"] == (
        f"You won the auction for {NAME}. Please complete payment within 24 hours: {url}"
    )
    assert (await notifications_of(rival))["auction_lost"] == (
        f"The auction for {NAME} has ended. The winning bid was Rs. 5000.00."
    )
    assert (await notifications_of(seller))["auction_ended"] == (
        f"Your auction for {NAME} has ended. Winner: {buyer.username}"
    )
    [won] = await inbox.wait_for(buyer.email)
    assert won["Subject"] == f"You won the auction for {NAME}" and url in won.get_content()
    [lost] = await inbox.wait_for(rival.email)
    assert lost["Subject"] == f"The auction for {NAME} has ended"
    await inbox.wait_for(seller.email)
    # the scheduled ending is gone; the page shows it was bought; replay has the event
    await live_server.effects.drain()  # the after-commit work, the cancelling among it
    assert schedules == [f"-{end_schedule_id(auction_id)}"]
    body = (await client.get(f"/api/auctions/{auction_id}/")).json()
    assert (body["status"], body["buy_now_open"], body["bought_now"]) == ("ended", False, True)
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as replayed:
        status = await replayed.receive()
        assert status["data"]["bought_now"] is True and status["data"]["buy_now_open"] is False
    stored = await AuctionEvent.select().where(AuctionEvent.auction == auction_id)
    assert sorted(e["seq"] for e in stored) == [1, 2]
    url = socket_url(live_server.url, auction_id) + "?since_seq=1"
    async with websockets.connect(url) as connection:
        since = Watch(connection)
        assert (await since.receive())["type"] == "auction_status"
        replay = await since.receive()
    assert replay["type"] == "auction_ended" and replay["data"]["buy_now"] is True
    assert replay["replay"] is True


async def test_a_bidder_whose_bids_were_removed_is_not_told_of_the_purchase(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
) -> None:
    """As at an ending: a removed bid is no bid, so its bidder lost nothing."""
    auction_id = await make_auction(seller, buy_now_price="5000.00")
    assert await bid(client, auction_id, rival, "2600") == 201
    [placed] = await Bid.select(Bid.id).where(Bid.auction == auction_id)
    staff = await make_user(live_server.settings, staff=True)
    removed = await client.post(f"/api/bids/{placed['id']}/remove/", headers=staff.auth)
    assert removed.status_code == 200, removed.text
    response = await buy_now(client, auction_id, buyer)
    assert response.status_code == 201, response.text
    await live_server.effects.drain()
    assert "auction_won" in await notifications_of(buyer)
    assert "auction_lost" not in await notifications_of(rival)
    assert "auction_ended" in await notifications_of(seller)


async def test_socket_buy_now_answers_the_buyer_after_every_watcher_heard(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle, rival: UserHandle
) -> None:
    auction_id = await make_auction(seller, buy_now_price="5000.00", reserve_price="4000.00")
    async with (
        alerts(live_server.url, buyer) as feed,
        alerts(live_server.url, seller) as seller_feed,
        watch(live_server.url, auction_id, buyer.token) as buying,
        watch(live_server.url, auction_id, rival.token) as other,
    ):
        assert (await feed.receive())["type"] == (await seller_feed.receive())["type"]
        # the buyer's own bid below the reserve leaves Buy It Now open, for the buyer too
        assert (await buying.bid(3000))["type"] == "new_bid"
        assert (await other.receive())["type"] == "new_bid"
        await buying.send({"type": "buy_now", "bid_id": "sock-1"})
        ended = await buying.receive()
        expected = ended_data(auction_id, buyer, 2) | {"reserve_met": True}
        assert ended == {"type": "auction_ended", "data": expected}
        answer = await buying.receive()
        [order] = await Order.select().where(Order.auction == auction_id)
        assert answer == {
            "type": "buy_now_accepted",
            "data": {
                "bid_id": "sock-1",
                "price": "5000.00",
                "order_id": order["id"],
                "order_number": order["order_number"],
                "seq": 2,
            },
        }
        assert await other.receive() == ended
        # after it: bids and purchases are refused as on any ended auction
        assert await other.bid(6000) == error(NOT_ACTIVE, "not_active")
        await other.send({"type": "buy_now"})
        assert await other.receive() == error(NOT_ACTIVE, "not_active")
        await buying.send({"type": "buy_now", "bid_id": "sock-1"})  # a retry: the same answer
        assert await buying.receive() == answer
        # /ws/notifications/ pushes the ending's notices at once, as an ending's
        pushed = await feed.receive()
        assert pushed["type"] == "notification" and pushed["unread_count"] == 1
        assert pushed["data"]["notification_type"] == "auction_won"
        assert pushed["data"]["auction"] == auction_id
        told = await seller_feed.receive()
        assert told["data"]["notification_type"] == "auction_ended"
    # the buyer, who had bid, is told once that it won; its old bid is no longer winning
    assert list(await notifications_of(buyer)) == ["auction_won"]
    assert await Bid.count().where((Bid.auction == auction_id) & Bid.is_winning.eq(True)) == 0


async def test_buy_now_races_bids_and_one_buyer_wins(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
) -> None:
    third = await make_user(live_server.settings)
    auction_id = await make_auction(seller, buy_now_price="5000.00")
    bids = [bid(client, auction_id, rival, str(2600 + 100 * i)) for i in range(12)]
    buys = [buy_now(client, auction_id, user) for user in (buyer, third)]
    results = await asyncio.gather(*bids[:6], *buys, *bids[6:])
    purchases = [r for r in results[6:8] if isinstance(r, httpx.Response)]
    assert sorted(r.status_code for r in purchases) == [201, 400]
    [winner] = [r for r in purchases if r.status_code == 201]
    [loser] = [r for r in purchases if r.status_code == 400]
    assert loser.json() == {"error": NOT_ACTIVE}
    ended_seq = winner.json()["seq"]
    # decided in order: every recorded bid came before the ending, nothing after it
    events = (
        await AuctionEvent.select()
        .where(AuctionEvent.auction == auction_id)
        .order_by(AuctionEvent.seq)
    )
    assert [e["seq"] for e in events] == list(range(1, ended_seq + 1))
    assert '"type":"auction_ended"' in events[-1]["payload"]
    assert '"buy_now":true' in events[-1]["payload"]
    assert await Bid.count().where(Bid.auction == auction_id) == ended_seq - 1
    assert await Order.count().where(Order.auction == auction_id) == 1
    row = await Auction.select().where(Auction.id == auction_id).first()
    assert row is not None and row["status"] == "ended" and row["bought_now"]
    buyer_id = buyer.id if winner is purchases[0] else third.id
    assert row["winner"] == buyer_id


async def test_refusals_and_bad_input_change_nothing(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
) -> None:
    offered = await make_auction(seller, buy_now_price="5000.00")
    plain = await make_auction(seller)
    reserved = await make_auction(seller, buy_now_price="5000.00", reserve_price="3000.00")
    ended = await make_auction(seller, buy_now_price="5000.00", ends_in=-timedelta(seconds=1))

    async def refused(auction_id: int, user: UserHandle | None, key: str | None = None) -> tuple:
        response = await buy_now(client, auction_id, user, key)
        return response.status_code, response.json()

    assert await refused(offered, None) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    assert await refused(offered, seller) == (400, {"error": "You cannot buy your own auction"})
    assert await refused(plain, buyer) == (400, {"error": "This auction has no Buy It Now price"})
    assert await refused(ended, buyer) == (400, {"error": NOT_ACTIVE})
    assert await refused(999_999, buyer) == (404, {"detail": "Not found."})
    assert await refused(offered, buyer, key="bad key!") == (
        400,
        {"error": "Invalid Idempotency-Key header: use 1-64 characters of A-Z a-z 0-9 _ -"},
    )
    # a bid that reaches the reserve closes it; without a reserve, the buy-now price does
    assert await bid(client, reserved, rival, "3000") == 201
    assert await refused(reserved, buyer) == (400, {"error": CLOSED})
    assert await bid(client, offered, rival, "5000") == 201
    assert await refused(offered, buyer) == (400, {"error": CLOSED})
    # an Idempotency-Key used for a bid cannot buy
    assert (
        await client.post(
            f"/api/auctions/{plain}/place_bid/",
            json={"amount": "2600"},
            headers={**buyer.auth, "Idempotency-Key": "same"},
        )
    ).status_code == 201
    assert await refused(plain, buyer, key="same") == (
        422,
        {"error": "Idempotency key reused with a different bid"},
    )
    assert await Order.count() == 0
    for auction_id in (offered, plain, reserved):
        row = await Auction.select().where(Auction.id == auction_id).first()
        assert row is not None and row["status"] == "active" and not row["bought_now"]
    # over the socket: anonymous, own auction, bad key
    async with watch(live_server.url, offered) as anonymous:
        await anonymous.send({"type": "buy_now"})
        assert await anonymous.receive() == error(
            "You must be authenticated to buy", "unauthenticated"
        )
    async with watch(live_server.url, reserved, seller.token) as own:
        await own.send({"type": "buy_now", "bid_id": "k"})
        assert await own.receive() == error("You cannot buy your own auction", "own_auction") | {
            "bid_id": "k"
        }
        await own.send({"type": "buy_now", "bid_id": 12})
        reply = await own.receive()
        assert reply["code"] == "invalid_message" and "Invalid bid_id" in reply["message"]


async def test_the_seller_sets_buy_now_price_checked_against_start_and_reserve(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    async def create(**options: Any) -> httpx.Response:
        body = create_body(await own_product(seller), **options)
        return await client.post("/api/auctions/", json=body, headers=seller.auth)

    at_start = await create(buy_now_price="25000.00")
    assert (at_start.status_code, at_start.json()) == (
        400,
        {"buy_now_price": ["Buy It Now price must be higher than the starting price."]},
    )
    below_reserve = await create(buy_now_price="30000.00", reserve_price="35000.00")
    assert (below_reserve.status_code, below_reserve.json()) == (
        400,
        {"buy_now_price": ["Buy It Now price must be at least the reserve price."]},
    )
    bad = await create(buy_now_price="abc")
    assert bad.status_code == 400 and list(bad.json()) == ["buy_now_price"]
    created = await create(buy_now_price="40000.00", reserve_price="40000.00")
    assert created.status_code == 201, created.text
    auction = created.json()
    assert (auction["buy_now_price"], auction["buy_now_open"], auction["bought_now"]) == (
        "40000.00",
        True,
        False,
    )
    auction_id = auction["id"]
    patch = await client.patch(
        f"/api/auctions/{auction_id}/", json={"buy_now_price": None}, headers=seller.auth
    )
    assert patch.status_code == 200 and patch.json()["buy_now_price"] is None
    patch = await client.patch(
        f"/api/auctions/{auction_id}/", json={"buy_now_price": "45000"}, headers=seller.auth
    )
    assert patch.status_code == 200 and patch.json()["buy_now_price"] == "45000.00"
    # once a bid exists the seller cannot change it (as every other term)
    await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": "26000"}, headers=buyer.auth
    )
    locked = await client.patch(
        f"/api/auctions/{auction_id}/", json={"buy_now_price": "50000"}, headers=seller.auth
    )
    assert (locked.status_code, locked.json()) == (
        400,
        {"error": "Cannot edit an auction that has bids"},
    )


async def test_the_openapi_schema_documents_buy_now(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    operation = spec["paths"]["/api/auctions/{auction_id}/buy_now"]["post"]
    assert operation["operationId"] == "BuyNow"
    assert "requestBody" not in operation
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/Purchased")
    purchased = spec["components"]["schemas"]["Purchased"]
    assert set(purchased["properties"]) == {"message", "auction_id", "price", "seq", "order"}
    assert {p["name"] for p in operation["parameters"]} >= {"Idempotency-Key", "auction_id"}
    assert {"400", "401", "404"} <= set(operation["responses"])
    auction = spec["components"]["schemas"]["Auction"]["properties"]
    assert {"buy_now_price", "buy_now_open", "bought_now"} <= set(auction)
    assert "buy_now_price" in spec["components"]["schemas"]["AuctionCreate"]["properties"]


async def test_the_one_step_form_and_the_admin_take_buy_now_price_by_the_same_rules(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle
) -> None:
    terms = {
        "name": "Wooden Jewelry Box",
        "description": "Sheesham wood.",
        "starting_price": "1800",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=1)),
    }
    files = [("images", ("box.jpg", jpeg(), "image/jpeg"))]

    async def form(buy_now_price: str) -> httpx.Response:
        data = {**terms, "buy_now_price": buy_now_price}
        return await client.post("/api/auctions/", data=data, files=files, headers=seller.auth)

    empty = await form("")  # a form's empty value is none
    assert empty.status_code == 201 and empty.json()["buy_now_price"] is None
    low = await form("1800")
    assert (low.status_code, low.json()) == (
        400,
        {"buy_now_price": ["Buy It Now price must be higher than the starting price."]},
    )
    offered = await form("2500.5")
    assert offered.status_code == 201 and offered.json()["buy_now_price"] == "2500.50"

    staff = await make_user(live_server.settings, role=Role.admin, staff=True)
    auction_id = await make_auction(seller, reserve_price="3000.00")
    async with admin_session(live_server, staff.username) as admin:
        schema = (await admin.get("/admin/api/tables/auction/schema/")).json()
        assert {"buy_now_price", "bought_now"} <= set(schema["properties"])
        url = f"/admin/api/tables/auction/{auction_id}/"
        for bad in ({"buy_now_price": "2500.00"}, {"buy_now_price": "2999.99"}):
            refused = await admin.patch(url, json=bad)
            assert refused.status_code == 400, (bad, refused.text)
        edited = await admin.patch(url, json={"buy_now_price": "3000.00"})
        assert edited.status_code == 200, edited.text
    row = await Auction.select(Auction.buy_now_price).where(Auction.id == auction_id).first()
    assert row is not None and f"{row['buy_now_price']:.2f}" == "3000.00"


@pytest.mark.postgres_only
@needs_redis
async def test_a_buy_now_forwarded_to_the_auctions_owner_is_decided_there(
    two_apps: list[AppProcess], live_server: LiveServer
) -> None:
    """Production topology: the purchase reaches the process that does not own the auction,
    travels to the owner with the bids, and its answer (with the order) comes back."""
    owner, other = two_apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer, bidder = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller, buy_now_price="5000.00")
    async with watch(owner.url, auction_id, bidder.token) as first:
        assert (await first.bid(2600))["type"] == "new_bid"  # the owner takes the lease
        before = await metrics_of(other.url)
        async with httpx.AsyncClient(base_url=other.url) as http:
            response = await buy_now(http, auction_id, buyer)
        assert response.status_code == 201, response.text
        assert (await first.receive())["data"] == ended_data(auction_id, buyer, 2)
    after = await metrics_of(other.url)
    answered = "madeinpk_bids_forwarded_total"
    assert (
        metric(after, answered, result="answered") - metric(before, answered, result="answered")
        == 1
    )
    [order] = await Order.select().where(Order.auction == auction_id)
    assert response.json()["order"]["order_number"] == order["order_number"]
    assert order["buyer"] == buyer.id
