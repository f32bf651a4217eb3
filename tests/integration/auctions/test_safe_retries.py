"""Safe retries (docs/auction-rules.md § 9) and post-commit effects that fail: a retry gets the
first answer and changes nothing; a committed bid is never answered as a failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from taskiq.exceptions import SendTaskError

from madeinpk.accounts.tables import Role
from madeinpk.auctions.bidding.keys import forget_expired_keys
from madeinpk.auctions.tables import Auction, Bid, BidRequest
from madeinpk.http.errors import RETRY_AFTER_SECONDS, UNAVAILABLE
from madeinpk.notifications.tables import OutboxEmail
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import error, watch

pytestmark = pytest.mark.usefixtures("task_worker")

CONFLICT = "Idempotency key reused with a different bid"


def bid_url(auction_id: int) -> str:
    return f"/api/auctions/{auction_id}/place_bid/"


async def counts(auction_id: int) -> tuple[int, int, int]:
    row = await Auction.select(Auction.bid_count, Auction.seq).where(Auction.id == auction_id)
    return row[0]["bid_count"], row[0]["seq"], await Bid.count()


async def test_a_socket_retry_after_reconnecting_gets_the_same_answer(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        first = await ws.bid(3000, bid_id="tab-1_bid-0001")
        assert first["type"] == "new_bid"
        [accepted] = ws.acks
        assert accepted["data"]["bid_id"] == "tab-1_bid-0001"
    async with watch(live_server.url, auction, buyer.token) as ws:  # the connection dropped
        await ws.send({"type": "place_bid", "amount": 3000, "bid_id": "tab-1_bid-0001"})
        assert await ws.receive() == accepted  # no new_bid: nothing happened again
        await ws.send({"type": "place_bid", "amount": 3100, "bid_id": "tab-1_bid-0001"})
        assert await ws.receive() == {
            **error(CONFLICT, "idempotency_conflict"),
            "bid_id": "tab-1_bid-0001",
        }
        assert await ws.silent()
    assert await counts(auction) == (1, 1, 1)


async def test_a_refused_keyed_bid_is_refused_again_even_when_it_would_now_win(
    live_server: LiveServer, auction: int, buyer: UserHandle, seller: UserHandle
) -> None:
    rival = await make_user(live_server.settings)
    async with watch(live_server.url, auction, rival.token) as ws:
        assert (await ws.bid(2800))["type"] == "new_bid"
    async with watch(live_server.url, auction, buyer.token) as ws:
        refused = error("Bid must be higher than current price of 2800.00", "too_low")
        assert await ws.bid(2700, bid_id="k1") == {**refused, "bid_id": "k1"}
        assert await ws.bid(2700, bid_id="k1") == {**refused, "bid_id": "k1"}
    assert await counts(auction) == (1, 1, 1)


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "ü", 42, ["k"], {"k": 1}])
async def test_bad_bid_ids_are_refused_and_change_nothing(
    live_server: LiveServer, auction: int, buyer: UserHandle, bad: object
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send({"type": "place_bid", "amount": 3000, "bid_id": bad})
        assert await ws.receive() == error(
            "Invalid bid_id: use 1-64 characters of A-Z a-z 0-9 _ -", "invalid_message"
        )
        assert (await ws.bid(3000))["type"] == "new_bid"  # still usable; null is "no key"
        await ws.send({"type": "place_bid", "amount": 3100, "bid_id": None})
        assert (await ws.receive())["type"] == "new_bid"
    assert await BidRequest.count() == 0


async def test_rest_idempotency_key(
    client: httpx.AsyncClient, live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    headers = {**buyer.auth, "Idempotency-Key": "order-7f3a"}
    first = await client.post(bid_url(auction), json={"amount": 3000}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(bid_url(auction), json={"amount": "3000.00"}, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    conflict = await client.post(bid_url(auction), json={"amount": 3100}, headers=headers)
    assert (conflict.status_code, conflict.json()) == (422, {"error": CONFLICT})
    other_auction = await make_auction(await make_user(live_server.settings, role=Role.seller))
    elsewhere = await client.post(bid_url(other_auction), json={"amount": 3000}, headers=headers)
    assert (elsewhere.status_code, elsewhere.json()) == (422, {"error": CONFLICT})
    assert await counts(auction) == (1, 1, 1)

    # The key is the bidder's: the socket and REST share it, another bidder does not.
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send({"type": "place_bid", "amount": 3000, "bid_id": "order-7f3a"})
        replayed = await ws.receive()
    assert replayed["type"] == "bid_accepted" and replayed["data"]["seq"] == 1
    rival = await make_user(live_server.settings)
    own_key = await client.post(
        bid_url(auction),
        json={"amount": 3200},
        headers={**rival.auth, "Idempotency-Key": "order-7f3a"},
    )
    assert own_key.status_code == 201


async def test_rest_refusals_repeat_too(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    headers = {**buyer.auth, "Idempotency-Key": "low-1"}
    low = await client.post(bid_url(auction), json={"amount": 10}, headers=headers)
    assert (low.status_code, low.json()) == (
        400,
        {"amount": ["Bid must be higher than current price of 2500.00"]},
    )
    again = await client.post(bid_url(auction), json={"amount": 10}, headers=headers)
    assert (again.status_code, again.json()) == (low.status_code, low.json())


@pytest.mark.parametrize("key", ["", "a b", "x" * 65, "ключ"])
async def test_bad_idempotency_keys_are_refused(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle, key: str
) -> None:
    response = await client.post(
        bid_url(auction),
        json={"amount": 3000},
        headers={k.encode(): v.encode() for k, v in {**buyer.auth, "Idempotency-Key": key}.items()},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid Idempotency-Key header: use 1-64 characters of A-Z a-z 0-9 _ -"
    }
    assert await counts(auction) == (0, 0, 0)


async def test_the_same_key_racing_itself_is_decided_once(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    headers = {**buyer.auth, "Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(client.post(bid_url(auction), json={"amount": 3000}, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await counts(auction) == (1, 1, 1)


async def test_a_failing_email_kick_never_turns_a_committed_bid_into_an_error(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    auction: int,
    buyer: UserHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis refusing the task (as in an outage) after commit: the bid is still 201 and
    broadcast, and its email waits in the outbox for the sweep."""
    rival = await make_user(live_server.settings)
    assert (
        await client.post(bid_url(auction), json={"amount": 2600}, headers=buyer.auth)
    ).status_code == 201

    async def refuse(*args: object, **kwargs: object) -> None:
        raise SendTaskError()

    monkeypatch.setattr("taskiq.kicker.AsyncKicker.kiq", refuse)
    async with watch(live_server.url, auction) as spectator:
        response = await client.post(bid_url(auction), json={"amount": 2700}, headers=rival.auth)
        assert response.status_code == 201, response.text
        event = await spectator.receive()
    assert event["type"] == "new_bid" and event["data"]["amount"] == "2700.00"
    [email] = await OutboxEmail.select().where(OutboxEmail.to_address == buyer.email)
    assert email["sent_at"] is None  # left for the outbox sweep, not lost
    price = await Auction.select(Auction.current_price).where(Auction.id == auction)
    assert Decimal(str(price[0]["current_price"])) == Decimal("2700")


async def test_keys_older_than_a_day_are_forgotten(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle
) -> None:
    for key, amount in (("yesterday", 2600), ("today", 2700)):
        headers = {**buyer.auth, "Idempotency-Key": key}
        response = await client.post(bid_url(auction), json={"amount": amount}, headers=headers)
        assert response.status_code == 201, response.text
    await BidRequest.update(
        {BidRequest.created_at: utc_now() - timedelta(hours=24, seconds=1)}
    ).where(BidRequest.key == "yesterday")
    assert await forget_expired_keys() == 1
    assert [r["key"] for r in await BidRequest.select(BidRequest.key)] == ["today"]
    assert await Bid.count().where(Bid.auction == auction) == 2  # the bids themselves stay


async def test_a_bid_the_engine_could_not_decide_is_a_503_that_changed_nothing(
    client: httpx.AsyncClient, auction: int, buyer: UserHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database going away mid-batch answers as any outage does (REST: 503, Retry-After),
    not as a refusal of the bid."""

    async def lost(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr("madeinpk.auctions.bidding.desk.decide_batch", lost)
    response = await client.post(bid_url(auction), json={"amount": 3000}, headers=buyer.auth)
    assert (response.status_code, response.json()) == (503, {"detail": UNAVAILABLE})
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert await counts(auction) == (0, 0, 0)
