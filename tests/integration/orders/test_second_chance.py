"""Second-chance offers over real HTTP and the notification socket (docs/auction-rules.md §
Second-chance offer, docs/rest-api.md § Second-chance offers): the seller of a missed order
offers the item to the next-highest distinct bidder, who accepts (a new order with its own
deadline) or declines; the missed order stays recorded as it was."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from piccolo.testing.model_builder import ModelBuilder

from madeinpk.accounts.tables import Role, UserProfile
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.orders.offer_expiry import expire_due_offers
from madeinpk.orders.service import expire_overdue_orders
from madeinpk.orders.tables import Offer, Order, OrderStatus, PaymentViolation
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_order, make_user
from tests.integration.notifications.test_notification_socket import alerts

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

NOT_FOUND = {"detail": "Not found."}


def parse(stamp: str) -> datetime:
    assert stamp.endswith("Z"), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def bid(auction_id: int, bidder: UserHandle, amount: str) -> None:
    await ModelBuilder.build(
        Bid,
        defaults={
            Bid.auction: auction_id,
            Bid.bidder: bidder.id,
            Bid.amount: Decimal(amount),
            Bid.bid_time: utc_now(),
            Bid.is_winning: False,
            Bid.is_auto: False,
            Bid.seq: 0,
            # Not removed (docs/auction-rules.md § 10): the builder would fill them at random.
            Bid.removed_at: None,
            Bid.removed_by: None,
            Bid.removed_with: None,
        },
    )


async def missed_order(
    live_server: LiveServer, seller: UserHandle, winner: UserHandle, *others: tuple[UserHandle, str]
) -> tuple[int, int]:
    """A won run whose winner let the payment deadline pass, expired by the real sweep; the
    other bidders' bids as given. Returns (order id, auction id)."""
    order_id = await make_order(seller, winner, deadline_in=-timedelta(minutes=1))
    row = await Order.select(Order.auction).where(Order.id == order_id).first()
    assert row is not None
    auction_id = row["auction"]
    for bidder, amount in others:
        await bid(auction_id, bidder, amount)
    await bid(auction_id, winner, "3000.00")
    assert await expire_overdue_orders(live_server.settings, live_server.effects) == 1
    return order_id, auction_id


async def post(
    client: httpx.AsyncClient, path: str, user: UserHandle | None, status: int
) -> dict[str, Any]:
    response = await client.post(path, headers=user.auth if user else {})
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_offer_accept_creates_a_new_order_and_keeps_the_missed_one(
    live_server: LiveServer, client: httpx.AsyncClient, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, second, third = [await make_user(live_server.settings) for _ in range(3)]
    order_id, auction_id = await missed_order(
        live_server,
        seller,
        winner,
        (second, "2700.00"),
        (third, "2800.00"),
        (second, "2900.00"),  # the second bidder's highest bid
    )
    async with alerts(live_server.url, second) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        offer = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)
        pushed = await feed.receive()
    assert pushed["type"] == "notification"
    assert pushed["data"]["notification_type"] == "second_chance_offer"
    assert pushed["data"]["order"] == order_id and pushed["data"]["auction"] == auction_id
    assert "Rs. 2900.00" in pushed["data"]["message"]
    expires_at = parse(offer.pop("expires_at"))
    window = timedelta(hours=live_server.settings.payment_deadline_hours)
    assert abs(expires_at - (utc_now() + window)) < timedelta(minutes=1)
    offer_id = offer.pop("id")
    parse(offer.pop("created_at"))
    assert offer == {
        "order": order_id,
        "auction": auction_id,
        "product": offer["product"],
        "product_name": "Handwoven Pashmina Shawl",
        "bidder": second.id,
        "bidder_username": second.username,
        "seller": seller.id,
        "seller_username": seller.username,
        "amount": "2900.00",
        "status": "pending",
        "decided_at": None,
        "new_order": None,
    }
    [email] = await inbox.wait_for(second.email)
    assert email["Subject"] == "A second chance to buy Handwoven Pashmina Shawl"
    listed = (await client.get("/api/offers/", headers=second.auth)).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == offer_id
    as_seller = (await client.get("/api/offers/?role=seller", headers=seller.auth)).json()
    assert [o["id"] for o in as_seller["results"]] == [offer_id]
    assert (await client.get("/api/offers/", headers=seller.auth)).json()["count"] == 0
    assert (await client.get(f"/api/offers/{offer_id}/", headers=seller.auth)).status_code == 200

    async with alerts(live_server.url, seller) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        accepted = await post(client, f"/api/offers/{offer_id}/accept/", second, 200)
        pushed = await feed.receive()
    assert pushed["data"]["notification_type"] == "offer_accepted"
    assert accepted["status"] == "accepted" and accepted["decided_at"] is not None
    new_order = await client.get(f"/api/orders/{accepted['new_order']}/", headers=second.auth)
    assert new_order.status_code == 200
    body = new_order.json()
    assert (body["buyer"], body["seller"], body["status"]) == (
        second.id,
        seller.id,
        "pending_payment",
    )
    assert body["total_amount"] == "2900.00" and body["unit_price"] == "2900.00"
    assert abs(parse(body["payment_deadline"]) - (utc_now() + window)) < timedelta(minutes=1)
    [seller_email] = await inbox.wait_for(seller.email)
    assert seller_email["Subject"] == (
        "Your second-chance offer for Handwoven Pashmina Shawl was accepted"
    )
    # The missed order is recorded as before: failed, its violation counted, the run cancelled.
    missed = await Order.select(Order.status).where(Order.id == order_id).first()
    assert missed == {"status": OrderStatus.payment_failed.value}
    assert await PaymentViolation.count().where(PaymentViolation.order == order_id) == 1
    run = await Auction.select(Auction.status).where(Auction.id == auction_id).first()
    assert run == {"status": AuctionStatus.cancelled.value}
    # The seller's view of the run shows its latest order: the second-chance one.
    view = (await client.get(f"/api/auctions/{auction_id}/", headers=seller.auth)).json()
    assert view["order_info"]["order_id"] == accepted["new_order"]
    # Answered once: both answers are refused now.
    again = await post(client, f"/api/offers/{offer_id}/accept/", second, 400)
    assert again == {"error": "This offer is no longer pending (it was accepted)"}
    refused = await post(client, f"/api/offers/{offer_id}/decline/", second, 400)
    assert refused == again

    # The second-chance order missed too: the next offer skips the winner and the second.
    await Order.update({Order.payment_deadline: utc_now() - timedelta(seconds=1)}).where(
        Order.id == accepted["new_order"]
    )
    assert await expire_overdue_orders(live_server.settings, live_server.effects) == 1
    next_offer = await post(
        client, f"/api/orders/{accepted['new_order']}/second_chance/", seller, 201
    )
    assert (next_offer["bidder"], next_offer["amount"]) == (third.id, "2800.00")


async def test_decline_tells_the_seller_and_the_order_is_offered_once(
    live_server: LiveServer, client: httpx.AsyncClient, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, second = [await make_user(live_server.settings) for _ in range(2)]
    order_id, _ = await missed_order(live_server, seller, winner, (second, "2600.00"))
    offer = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)
    again = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 400)
    assert again == {"error": "A second-chance offer was already made for this order"}
    assert await post(client, f"/api/offers/{offer['id']}/accept/", seller, 403) == {
        "error": "Only the offered bidder can answer this offer"
    }
    declined = await post(client, f"/api/offers/{offer['id']}/decline/", second, 200)
    assert declined["status"] == "declined" and declined["new_order"] is None
    [email] = await inbox.wait_for(seller.email)
    assert email["Subject"].endswith("was declined")
    notices = (await client.get("/api/notifications/", headers=seller.auth)).json()["results"]
    assert notices[0]["notification_type"] == "offer_declined"
    assert await post(client, f"/api/offers/{offer['id']}/accept/", second, 400) == {
        "error": "This offer is no longer pending (it was declined)"
    }
    assert await Order.count().where(Order.buyer == second.id) == 0


async def test_refusals_change_nothing(live_server: LiveServer, client: httpx.AsyncClient) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, second, stranger = [await make_user(live_server.settings) for _ in range(3)]
    # The winner was the only bidder: nobody to offer to.
    alone, _ = await missed_order(live_server, seller, winner)
    assert await post(client, f"/api/orders/{alone}/second_chance/", seller, 400) == {
        "error": "No other bidder to offer the item to"
    }
    # An order still awaiting payment (or paid) is not a missed one.
    pending = await make_order(seller, winner)
    paid = await make_order(seller, winner, status=OrderStatus.paid)
    for order_id in (pending, paid):
        assert await post(client, f"/api/orders/{order_id}/second_chance/", seller, 400) == {
            "error": "A second-chance offer can only be made for an order whose payment "
            "deadline was missed"
        }
    order_id, _ = await missed_order(live_server, seller, winner, (second, "2600.00"))
    path = f"/api/orders/{order_id}/second_chance/"
    assert await post(client, path, winner, 403) == {
        "error": "Only the seller can make a second-chance offer"
    }
    assert await post(client, path, stranger, 404) == NOT_FOUND
    assert (await client.post(path)).status_code == 401
    for bad in ("/api/orders/999999/second_chance/", "/api/orders/99999999999/second_chance/"):
        assert (await client.post(bad, headers=seller.auth)).status_code == 404
    assert (
        await client.post("/api/orders/abc/second_chance/", headers=seller.auth)
    ).status_code in (
        400,
        404,
    )
    assert await Offer.count() == 0
    offer = await post(client, path, seller, 201)
    # Not the offered bidder: the stranger is told nothing exists.
    for action in ("accept", "decline"):
        assert await post(client, f"/api/offers/{offer['id']}/{action}/", stranger, 404) == (
            NOT_FOUND
        )
        assert await post(client, f"/api/offers/{offer['id']}/{action}/", winner, 404) == (
            NOT_FOUND
        )
        assert await post(client, f"/api/offers/999999/{action}/", second, 404) == NOT_FOUND
    assert (await client.get(f"/api/offers/{offer['id']}/", headers=stranger.auth)).status_code == (
        404
    )
    for query, field in (("role=buyer", "role"), ("status=lost", "status")):
        response = await client.get(f"/api/offers/?{query}", headers=second.auth)
        assert response.status_code == 400 and field in response.json(), response.text
    assert (await client.get("/api/offers/")).status_code == 401
    stored = await Offer.select(Offer.status).where(Offer.id == offer["id"]).first()
    assert stored == {"status": "pending"}


async def test_a_blocked_bidder_is_not_offered_the_item(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, blocked, third = [await make_user(live_server.settings) for _ in range(3)]
    order_id, _ = await missed_order(
        live_server, seller, winner, (third, "2700.00"), (blocked, "2900.00")
    )
    await UserProfile.update({UserProfile.is_blocked: True}).where(UserProfile.user == blocked.id)
    offer = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)
    assert (offer["bidder"], offer["amount"]) == (third.id, "2700.00")
    notices = (await client.get("/api/notifications/", headers=third.auth)).json()["results"]
    assert notices[0]["notification_type"] == "second_chance_offer"
    # The blocked bidder was skipped: no offer of theirs.
    assert await Offer.count().where(Offer.bidder == blocked.id) == 0
    # The only other bidder is blocked: refused as if there were none, nothing recorded.
    alone_id, _ = await missed_order(live_server, seller, winner, (blocked, "2950.00"))
    assert await post(client, f"/api/orders/{alone_id}/second_chance/", seller, 400) == {
        "error": "No other bidder to offer the item to"
    }
    assert await Offer.count().where(Offer.order == alone_id) == 0


async def test_an_unanswered_offer_expires(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner, second, third = [await make_user(live_server.settings) for _ in range(3)]
    order_id, _ = await missed_order(live_server, seller, winner, (second, "2600.00"))
    late = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)
    other_id, _ = await missed_order(live_server, seller, winner, (third, "2600.00"))
    swept = await post(client, f"/api/orders/{other_id}/second_chance/", seller, 201)
    past = utc_now() - timedelta(seconds=1)
    await Offer.update({Offer.expires_at: past}).where(Offer.id.is_in([late["id"], swept["id"]]))
    # An answer after the window: refused, and the offer is recorded expired.
    assert await post(client, f"/api/offers/{late['id']}/accept/", second, 400) == {
        "error": "This offer has expired"
    }
    assert await post(client, f"/api/offers/{late['id']}/decline/", second, 400) == {
        "error": "This offer has expired"
    }
    # The sweep expires the other one, once.
    assert await expire_due_offers(live_server.effects) == 1
    assert await expire_due_offers(live_server.effects) == 0
    statuses = {
        r["id"]: r["status"] for r in await Offer.select(Offer.id, Offer.status).order_by(Offer.id)
    }
    assert statuses == {late["id"]: "expired", swept["id"]: "expired"}
    notices = (await client.get("/api/notifications/", headers=seller.auth)).json()["results"]
    assert [n["notification_type"] for n in notices].count("offer_expired") == 2
    assert await Order.count().where(Order.buyer.is_in([second.id, third.id])) == 0


async def test_offers_and_relisting_in_the_schema_and_the_admin(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    paths = spec["paths"]
    assert {
        "/api/orders/{order_id}/second_chance",
        "/api/offers",
        "/api/offers/{offer_id}",
        "/api/offers/{offer_id}/accept",
        "/api/offers/{offer_id}/decline",
        "/api/auctions/{auction_id}/relist",
    } <= set(paths)
    schemas = spec["components"]["schemas"]
    offer = paths["/api/offers/{offer_id}/accept"]["post"]["responses"]["200"]["content"]
    assert offer["application/json"]["schema"]["$ref"].endswith("/Offer")
    assert {"status", "expires_at", "new_order", "amount"} <= set(schemas["Offer"]["properties"])
    relist = paths["/api/auctions/{auction_id}/relist"]["post"]["requestBody"]["content"]
    assert relist == {
        "application/json": {"schema": {"$ref": "#/components/schemas/AuctionRelist"}}
    }
    auto = schemas["AuctionRelist"]["properties"]["auto_relist"]
    auto = auto.get("anyOf", [auto])[0]
    assert (auto["minimum"], auto["maximum"]) == (0, 3)
    assert {"auto_relist", "relisted_from", "relisted_as"} <= set(schemas["Auction"]["properties"])
    staff = await make_user(live_server.settings, role=Role.admin, staff=True)
    async with httpx.AsyncClient(base_url=live_server.url) as browser:
        await browser.get("/admin/")
        await browser.post(
            "/admin/public/login/",
            json={"username": staff.username, "password": staff.password},
            headers={"X-CSRFToken": browser.cookies.get("csrftoken") or ""},
        )
        tables = await browser.get("/admin/api/tables/")
    assert tables.status_code == 200 and "second_chance_offer" in tables.json()
