"""``POST /api/auctions/{id}/place_bid/`` and the bid history: the same service as the socket."""

from __future__ import annotations

import httpx
import pytest

from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import watch

pytestmark = pytest.mark.usefixtures("task_worker")


def bid_url(auction_id: object) -> str:
    return f"/api/auctions/{auction_id}/place_bid/"


async def test_rest_bid_returns_the_bid_and_reaches_watchers(
    client: httpx.AsyncClient, live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with watch(live_server.url, auction) as spectator:
        response = await client.post(bid_url(auction), json={"amount": 3000.00}, headers=buyer.auth)
        assert response.status_code == 201, response.text
        bid = response.json()
        assert set(bid) == {
            "id", "bidder", "bidder_username", "amount", "bid_time", "is_winning",
            "is_auto", "is_leading", "current_price",  # docs/rest-api.md § Auctions
        }  # fmt: skip
        assert bid["is_auto"] is False and bid["is_leading"] is True
        assert bid["current_price"] == "3000.00"
        assert bid["bidder"] == buyer.id and bid["bidder_username"] == buyer.username
        assert bid["amount"] == "3000.00" and bid["is_winning"] is True
        assert bid["bid_time"].endswith("Z")
        event = await spectator.receive()
    assert event["type"] == "new_bid"
    assert event["data"]["amount"] == "3000.00" and event["data"]["bidder"] == buyer.username


async def test_numeric_string_amount_is_accepted(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    response = await client.post(bid_url(auction), json={"amount": "2600.50"}, headers=buyer.auth)
    assert response.status_code == 201
    assert response.json()["amount"] == "2600.50"


async def test_rest_errors(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, auction: int
) -> None:
    buyer = await make_user(live_server.settings)
    blocked = await make_user(live_server.settings, is_blocked=True)
    ended = await make_auction(seller, status=AuctionStatus.ended)

    anonymous = await client.post(bid_url(auction), json={"amount": 3000})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}

    unknown = await client.post(bid_url(999999), json={"amount": 3000}, headers=buyer.auth)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not found."})

    inactive = await client.post(bid_url(ended), json={"amount": 3000}, headers=buyer.auth)
    assert (inactive.status_code, inactive.json()) == (400, {"error": "Auction is not active"})

    refused = await client.post(bid_url(auction), json={"amount": 3000}, headers=blocked.auth)
    assert (refused.status_code, refused.json()) == (403, {"error": "Your account is blocked"})

    own = await client.post(bid_url(auction), json={"amount": 3000}, headers=seller.auth)
    assert (own.status_code, own.json()) == (400, {"error": "You cannot bid on your own auction"})

    low = await client.post(bid_url(auction), json={"amount": 2500}, headers=buyer.auth)
    assert (low.status_code, low.json()) == (
        400,
        {"amount": ["Bid must be higher than current price of 2500.00"]},
    )
    assert await Bid.count() == 0


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("Infinity", "A valid number is required."),
        (True, "A valid number is required."),
        (None, "A valid number is required."),
        ([3000], "A valid number is required."),
        (-5, "Ensure this value is greater than 0."),
        (0, "Ensure this value is greater than 0."),
        (3000.001, "Ensure that there are no more than 2 decimal places."),
        ("3000.001", "Ensure that there are no more than 2 decimal places."),
        (100000000, "Ensure that there are no more than 10 digits in total."),
    ],
)
async def test_bad_amounts_are_field_errors(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle, amount: object, message: str
) -> None:
    response = await client.post(bid_url(auction), json={"amount": amount}, headers=buyer.auth)
    assert response.status_code == 400
    assert response.json() == {"amount": [message]}
    assert await Bid.count() == 0


async def test_missing_amount_and_bad_path(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    missing = await client.post(bid_url(auction), json={}, headers=buyer.auth)
    assert (missing.status_code, missing.json()) == (400, {"amount": ["This field is required."]})
    not_numeric = await client.post(bid_url("abc"), json={"amount": 3000}, headers=buyer.auth)
    assert not_numeric.status_code == 404


async def test_rest_outbid_email_and_bid_history(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    auction: int,
    buyer: UserHandle,
    inbox: SmtpInbox,
) -> None:
    rival = await make_user(live_server.settings)
    for user, amount in ((buyer, 2600), (rival, 2700), (buyer, 2800)):
        response = await client.post(bid_url(auction), json={"amount": amount}, headers=user.auth)
        assert response.status_code == 201
    assert [m["Subject"] for m in await inbox.wait_for(buyer.email)] == [
        "You have been outbid on Handwoven Pashmina Shawl"
    ]
    await inbox.wait_for(rival.email)
    history = await client.get(f"/api/auctions/{auction}/bids/")
    assert history.status_code == 200
    rows = history.json()
    assert [(r["bidder_username"], r["amount"], r["is_winning"]) for r in rows] == [
        (buyer.username, "2800.00", True),
        (rival.username, "2700.00", False),
        (buyer.username, "2600.00", False),
    ]
    assert (await client.get("/api/auctions/999999/bids/")).status_code == 404
    stored = await Auction.select(Auction.current_price).where(Auction.id == auction).first()
    assert stored is not None and f"{stored['current_price']:.2f}" == "2800.00"


@pytest.mark.parametrize(
    ("max_amount", "message"),
    [
        ("", "A valid number is required."),
        ("abc", "A valid number is required."),
        ([4000], "A valid number is required."),
        (True, "A valid number is required."),
        (0, "Ensure this value is greater than 0."),
        (4000.001, "Ensure that there are no more than 2 decimal places."),
        (100000000, "Ensure that there are no more than 10 digits in total."),
    ],
)
async def test_bad_max_amounts_are_field_errors(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle, max_amount: object, message: str
) -> None:
    body = {"amount": 3000, "max_amount": max_amount}
    response = await client.post(bid_url(auction), json=body, headers=buyer.auth)
    assert (response.status_code, response.json()) == (400, {"max_amount": [message]})
    assert await Bid.count() == 0


async def test_the_amount_is_judged_first_and_a_null_maximum_is_none(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    both = {"amount": "abc", "max_amount": "xyz"}
    response = await client.post(bid_url(auction), json=both, headers=buyer.auth)
    assert response.json() == {"amount": ["A valid number is required."]}  # the socket's order
    missing = await client.post(bid_url(auction), json={"max_amount": "x"}, headers=buyer.auth)
    assert missing.json() == {"amount": ["This field is required."]}
    plain = {"amount": " 3000 ", "max_amount": None}
    response = await client.post(bid_url(auction), json=plain, headers=buyer.auth)
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "3000.00"


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"", {"amount": ["This field is required."]}),
        (b"[1]", {"detail": "Invalid data. Expected a dictionary, but got list."}),
        (b"null", {"detail": "Invalid data. Expected a dictionary."}),
    ],
)
async def test_a_body_that_is_no_object_is_drf_s_400(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle, raw: bytes, body: object
) -> None:
    headers = {**buyer.auth, "content-type": "application/json"}
    response = await client.post(bid_url(auction), content=raw, headers=headers)
    assert (response.status_code, response.json()) == (400, body)
    broken = await client.post(bid_url(auction), content=b"{bad", headers=headers)
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
