"""The auction engine end to end (docs/auction-rules.md §§ 5-8), over real sockets and real HTTP:
the worked example of proxy bidding step by step on both transports, minimum increments per auction
(the site's table: ``test_increment_table.py``), soft close with the real scheduler and sweep,
the reserve price at the ending, and the secrecy of a standing maximum."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from madeinpk.auctions.tables import Auction, AuctionEvent
from madeinpk.notifications.tables import OutboxEmail
from madeinpk.orders.tables import Order
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import socket_url

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

PRODUCT = "Handwoven Pashmina Shawl"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Socket:
    """A watcher that keeps every message (``server_time`` checked and set aside)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.times: list[datetime] = []  # server_time of each message, in order

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), seconds)
        assert isinstance(raw, str)
        message: dict[str, Any] = json.loads(raw)
        server_time = message.pop("server_time")
        assert server_time.endswith("Z"), message
        self.times.append(when(server_time))
        return message

    async def events(self, count: int) -> list[dict[str, Any]]:
        return [await self.receive() for _ in range(count)]

    async def bid(
        self, amount: object, max_amount: object = None, bid_id: str | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send ``place_bid``; return the events that came before the answer, and the answer
        (``bid_accepted`` or ``error``)."""
        frame: dict[str, Any] = {"type": "place_bid", "amount": amount}
        if max_amount is not None:
            frame["max_amount"] = max_amount
        if bid_id is not None:
            frame["bid_id"] = bid_id
        await self.connection.send(json.dumps(frame))
        events = []
        while (message := await self.receive())["type"] not in ("bid_accepted", "error"):
            events.append(message)
        return events, message

    async def silent(self, seconds: float = 0.5) -> None:
        try:
            message = await asyncio.wait_for(self.connection.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {message!r}")


@asynccontextmanager
async def connect(
    server_url: str, auction_id: int, user: UserHandle | None = None
) -> AsyncIterator[tuple[Socket, dict[str, Any]]]:
    """A socket and its ``auction_status`` data."""
    token = user.token if user is not None else None
    async with websockets.connect(socket_url(server_url, auction_id, token)) as connection:
        socket = Socket(connection)
        status = await socket.receive()
        assert status["type"] == "auction_status", status
        yield socket, status["data"]


async def rest_bid(
    client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: object, maximum: object
) -> httpx.Response:
    body: dict[str, Any] = {"amount": amount}
    if maximum is not None:
        body["max_amount"] = maximum
    return await client.post(f"/api/auctions/{auction_id}/place_bid/", json=body, headers=user.auth)


def new_bid(seq: int, bidder: UserHandle, amount: str, auto: bool) -> tuple[Any, ...]:
    return (seq, bidder.username, amount, auto)


def as_rows(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``new_bid`` events as (seq, bidder, amount, auto), with their other fields checked."""
    rows = []
    for event in events:
        assert event["type"] == "new_bid", event
        data = event["data"]
        assert data["current_price"] == data["amount"]
        assert set(data) == {
            "bidder", "amount", "time", "current_price", "seq", "auto", "total_bids",
            "min_next_bid",
        }  # fmt: skip
        rows.append((data["seq"], data["bidder"], data["amount"], data["auto"]))
    return rows


async def notices(client: httpx.AsyncClient, user: UserHandle) -> list[tuple[str, str]]:
    page = (await client.get("/api/notifications/", headers=user.auth)).json()
    return [(n["notification_type"], n["message"]) for n in page["results"]]


@pytest.fixture
async def alice(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


@pytest.fixture
async def bilal(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


# --- the worked example (§ 3): start 1000.00, min_increment 100.00 ------------------------------


@dataclass
class Step:
    bidder: str  # "A" or "B"
    amount: int
    maximum: int | None
    recorded: list[tuple[str, str, bool]]  # (bidder, amount, auto) of the bids it records
    outcome: tuple[str, bool, str]  # the bidder's amount, is_leading, current_price


WORKED_EXAMPLE = [
    Step("A", 1100, 2000, [("A", "1100.00", False)], ("1100.00", True, "1100.00")),
    Step("B", 1200, None, [("B", "1200.00", False), ("A", "1300.00", True)],
         ("1200.00", False, "1300.00")),
    Step("B", 1400, 2500, [("A", "2000.00", True), ("B", "2100.00", False)],
         ("2100.00", True, "2100.00")),
    Step("A", 2200, 2500, [("A", "2500.00", False), ("B", "2500.00", True)],
         ("2500.00", False, "2500.00")),
    Step("B", 2600, 3000, [], ("2500.00", True, "2500.00")),  # B leads: raises its maximum
]  # fmt: skip


async def check_the_worked_example_result(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    auction_id: int,
    users: dict[str, UserHandle],
    spectator: Socket,
) -> None:
    """What every reader sees once the five steps are done, whichever transport placed them."""
    a, b = users["A"], users["B"]
    expected = [
        new_bid(seq, users[who], amount, auto)
        for seq, (who, amount, auto) in enumerate(
            (row for step in WORKED_EXAMPLE for row in step.recorded), start=1
        )
    ]
    assert as_rows(await spectator.events(len(expected))) == expected
    await spectator.silent()  # the maximum-only update broadcast nothing

    bids = (await client.get(f"/api/auctions/{auction_id}/bids/")).json()
    assert [(r["bidder_username"], r["amount"], r["is_auto"], r["is_winning"]) for r in bids] == [
        (b.username, "2500.00", True, True),
        (a.username, "2500.00", False, False),
        (b.username, "2100.00", False, False),
        (a.username, "2000.00", True, False),
        (a.username, "1300.00", True, False),
        (b.username, "1200.00", False, False),
        (a.username, "1100.00", False, False),
    ]
    assert all(set(r) == {"id", "bidder", "bidder_username", "amount", "bid_time",
                          "is_winning", "is_auto"} for r in bids)  # fmt: skip

    # my_max_bid: the owner's own, nobody else's.
    url = f"/api/auctions/{auction_id}/"
    for headers, mine in ((b.auth, "3000.00"), (a.auth, None), ({}, None)):
        body = (await client.get(url, headers=headers)).json()
        assert (body["my_max_bid"], body["current_price"], body["seq"]) == (mine, "2500.00", 7)
        assert body["min_next_bid"] == "2600.00" and body["total_bids"] == 7
    for user, mine in ((b, "3000.00"), (a, None), (None, None)):
        async with connect(live_server.url, auction_id, user) as (_, status):
            assert (status["my_max_bid"], status["seq"]) == (mine, 7)
            assert [x["auto"] for x in status["latest_bids"]] == [True, False, False, True, True]

    # Each loss of the lead is told once, with the new price.
    outbid = "Someone placed a higher bid of Rs. {} on " + PRODUCT
    assert await notices(client, b) == [("bid_outbid", outbid.format("1300.00"))]
    assert await notices(client, a) == [
        ("bid_outbid", outbid.format("2500.00")),
        ("bid_outbid", outbid.format("2100.00")),
    ]
    mails = await inbox.wait_for(a.email, 2)
    assert sorted("New highest bid: Rs. 2500.00" in m.get_content() for m in mails) == [
        False,
        True,
    ]
    [mail] = await inbox.wait_for(b.email)
    assert "New highest bid: Rs. 1300.00" in mail.get_content()


async def test_the_worked_example_over_the_socket(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
    bilal: UserHandle,
) -> None:
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    users = {"A": alice, "B": bilal}
    async with (
        connect(live_server.url, auction_id) as (spectator, _),
        connect(live_server.url, auction_id, alice) as (a_socket, a_status),
        connect(live_server.url, auction_id, bilal) as (b_socket, _),
    ):
        assert (a_status["min_increment"], a_status["min_next_bid"]) == ("100.00", "1100.00")
        sockets = {"A": a_socket, "B": b_socket}
        seq = 0
        for number, step in enumerate(WORKED_EXAMPLE, start=1):
            other = sockets["B" if step.bidder == "A" else "A"]
            events, answer = await sockets[step.bidder].bid(
                step.amount, step.maximum, bid_id=f"step-{number}"
            )
            assert answer["type"] == "bid_accepted", (number, answer)
            seq += len(step.recorded)
            amount, leading, price = step.outcome
            assert answer["data"] == {
                "bid_id": f"step-{number}",
                "amount": amount,
                "max_amount": f"{step.maximum}.00" if step.maximum else None,
                "is_leading": leading,
                "current_price": price,
                "seq": seq,
            }, number
            # The sender gets every new_bid of its step (its own included) before the answer.
            usernames = {u.username: k for k, u in users.items()}
            mine = [(usernames[who], amount, auto) for _, who, amount, auto in as_rows(events)]
            assert mine == step.recorded, number
            await other.events(len(step.recorded))  # the rival sees them too
        await check_the_worked_example_result(
            client, live_server, inbox, auction_id, users, spectator
        )


async def test_the_worked_example_over_rest(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
    bilal: UserHandle,
) -> None:
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    users = {"A": alice, "B": bilal}
    async with connect(live_server.url, auction_id) as (spectator, _):
        for number, step in enumerate(WORKED_EXAMPLE, start=1):
            user = users[step.bidder]
            response = await rest_bid(client, auction_id, user, step.amount, step.maximum)
            amount, leading, price = step.outcome
            if not step.recorded:
                assert (response.status_code, response.json()) == (
                    200,
                    {"message": "Maximum bid updated", "max_amount": "3000.00",
                     "current_price": "2500.00"},
                )  # fmt: skip
                continue
            assert response.status_code == 201, (number, response.text)
            body = response.json()
            assert (body["amount"], body["is_leading"], body["current_price"]) == (
                amount,
                leading,
                price,
            ), number
            assert (body["bidder"], body["is_auto"], body["is_winning"]) == (
                user.id,
                False,
                leading,
            )
            assert "max_amount" not in body
        await check_the_worked_example_result(
            client, live_server, inbox, auction_id, users, spectator
        )


async def test_the_plain_rules_hold_without_options_or_maxima(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    """The customer's documents, word for word: one new_bid per bid, at the amount sent."""
    auction_id = await make_auction(seller)
    async with connect(live_server.url, auction_id, alice) as (socket, status):
        assert (status["min_increment"], status["min_next_bid"]) == ("0.01", "2500.01")
        assert (status["reserve_met"], status["soft_close_seconds"]) == (None, 0)
        events, answer = await socket.bid(2500.01)
        assert as_rows(events) == [new_bid(1, alice, "2500.01", False)]
        assert answer["data"]["is_leading"] is True
        _, refused = await socket.bid(2500.01)
        assert refused == {
            "type": "error",
            "code": "too_low",
            "message": "Bid must be higher than current price of 2500.01",
        }


# --- minimum increments ------------------------------------------------------------------------


async def test_a_per_auction_increment_is_enforced_on_both_transports(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="25.00")
    async with connect(live_server.url, auction_id, alice) as (socket, _):
        _, too_low = await socket.bid(1000)
        assert (too_low["code"], too_low["message"]) == (
            "too_low",
            "Bid must be higher than current price of 1000.00",
        )
        _, short = await socket.bid(1024.99, bid_id="short")
        assert short == {
            "type": "error",
            "code": "below_increment",
            "bid_id": "short",
            "message": "Bid must be at least 1025.00",
        }
        events, _ = await socket.bid(1025)
        assert events[0]["data"]["min_next_bid"] == "1050.00"
    response = await rest_bid(client, auction_id, alice, "1049.99", None)
    assert (response.status_code, response.json()) == (
        400,
        {"amount": ["Bid must be at least 1050.00"]},
    )
    response = await rest_bid(client, auction_id, alice, 1050, 1000)
    assert (response.status_code, response.json()) == (
        400,
        {"max_amount": ["Maximum bid must be at least the bid amount"]},
    )
    assert (await client.get(f"/api/auctions/{auction_id}/bids/")).json()[0]["amount"] == "1025.00"


# The amount checks in § 3's order (price 1000.00, step 100.00): each bid's maximum is under its
# amount too, and the earlier check answers. (amount, max_amount, code, REST field, message)
ORDER_OF_CHECKS = [
    (900, 800, "too_low", "amount", "Bid must be higher than current price of 1000.00"),
    (1050, 1000, "below_increment", "amount", "Bid must be at least 1100.00"),
    (1100, 1050, "invalid_max_amount", "max_amount", "Maximum bid must be at least the bid amount"),
]


async def test_the_amount_checks_keep_the_specs_order_over_the_socket(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    async with connect(live_server.url, auction_id, alice) as (socket, _):
        for amount, maximum, code, _field, message in ORDER_OF_CHECKS:
            events, answer = await socket.bid(amount, maximum)
            assert (events, answer) == ([], {"type": "error", "code": code, "message": message})
    assert (await client.get(f"/api/auctions/{auction_id}/bids/")).json() == []


async def test_the_amount_checks_keep_the_specs_order_over_rest(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    for amount, maximum, _code, field, message in ORDER_OF_CHECKS:
        response = await rest_bid(client, auction_id, alice, amount, maximum)
        assert (response.status_code, response.json()) == (400, {field: [message]})
    assert (await client.get(f"/api/auctions/{auction_id}/bids/")).json() == []


async def test_a_leader_raises_its_maximum_with_an_amount_at_or_below_the_price(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    seller: UserHandle,
    alice: UserHandle,
) -> None:
    """§ 3 "X is L": checks 1-2 do not apply to a leader's bid with ``max_amount``; it raises
    the maximum, over either transport, and nothing is broadcast."""
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    async with (
        connect(live_server.url, auction_id) as (spectator, _),
        connect(live_server.url, auction_id, alice) as (socket, _),
    ):
        await socket.bid(1100)
        assert as_rows(await spectator.events(1)) == [new_bid(1, alice, "1100.00", False)]
        for amount, maximum in ((900, 1500), (1100, 2000)):
            events, answer = await socket.bid(amount, maximum)
            assert (events, answer["type"]) == ([], "bid_accepted"), answer
            assert answer["data"] == {
                "bid_id": None,
                "amount": "1100.00",
                "max_amount": f"{maximum}.00",
                "is_leading": True,
                "current_price": "1100.00",
                "seq": 1,
            }
        for amount in (1000, 1100):
            response = await rest_bid(client, auction_id, alice, amount, 2500 + amount)
            assert (response.status_code, response.json()) == (
                200,
                {
                    "message": "Maximum bid updated",
                    "max_amount": f"{2500 + amount}.00",
                    "current_price": "1100.00",
                },
            )
        await spectator.silent()
    body = (await client.get(f"/api/auctions/{auction_id}/", headers=alice.auth)).json()
    assert (body["my_max_bid"], body["current_price"], body["total_bids"]) == (
        "3600.00",
        "1100.00",
        1,
    )


# --- soft close --------------------------------------------------------------------------------


async def end_time_of(auction_id: int) -> datetime:
    row = await Auction.select(Auction.end_time).where(Auction.id == auction_id).first()
    assert row is not None
    end: datetime = row["end_time"]
    return end


async def ended_events(auction_id: int) -> int:
    rows = await AuctionEvent.select(AuctionEvent.payload).where(AuctionEvent.auction == auction_id)
    return sum('"type":"auction_ended"' in r["payload"] for r in rows)


@pytest.mark.parametrize("scheduled", [True, False], ids=["scheduled", "sweep-only"])
async def test_soft_close_extends_and_the_auction_ends_once_after_the_new_end(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
    bilal: UserHandle,
    scheduled: bool,
) -> None:
    window = timedelta(seconds=6)
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=2), soft_close_seconds=6)
    original_end = await end_time_of(auction_id)
    if scheduled:  # the one-off ending; without it only the 2-second sweep ends auctions
        await live_server.schedule_auction_end(auction_id, original_end)
    async with (
        connect(live_server.url, auction_id) as (spectator, status),
        connect(live_server.url, auction_id, alice) as (socket, _),
    ):
        assert status["soft_close_seconds"] == 6
        # A bid with less than the window left moves the end to bid time + window.
        events, answer = await socket.bid(2600)
        assert [e["type"] for e in events] == ["new_bid", "auction_extended"]
        bid_time, extended = when(events[0]["data"]["time"]), events[1]["data"]
        assert extended == {"auction_id": auction_id, "end_time": extended["end_time"], "seq": 2}
        assert when(extended["end_time"]) == bid_time + window
        assert answer["data"]["seq"] == 2
        assert [e["type"] for e in await spectator.events(2)] == ["new_bid", "auction_extended"]
        first_extension = await end_time_of(auction_id)
        assert first_extension == bid_time + window > original_end

        # After the original end, before the new one: the bid is accepted and extends again.
        while utc_now() <= original_end:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        late = await rest_bid(client, auction_id, bilal, 2700, None)
        assert late.status_code == 201, late.text
        late_time = when(late.json()["bid_time"])
        assert original_end < late_time < first_extension
        again = await spectator.events(2)
        assert [(e["type"], e["data"]["seq"]) for e in again] == [
            ("new_bid", 3),
            ("auction_extended", 4),
        ]
        final_end = await end_time_of(auction_id)
        assert final_end == late_time + window == when(again[1]["data"]["end_time"])
        body = (await client.get(f"/api/auctions/{auction_id}/")).json()
        assert when(body["end_time"]) == final_end  # the end in force everywhere
        async with connect(live_server.url, auction_id) as (_, fresh):
            assert when(fresh["end_time"]) == final_end and fresh["seq"] == 4

        # The ending honours the new end: it comes after it, exactly once.
        ended = await spectator.receive(seconds=final_end.timestamp() - utc_now().timestamp() + 15)
        assert ended["type"] == "auction_ended"
        assert spectator.times[-1] >= final_end
        assert (ended["data"]["winner"], ended["data"]["final_price"], ended["data"]["seq"]) == (
            bilal.username,
            "2700.00",
            5,
        )
        await inbox.wait_for(bilal.email)  # won
        await asyncio.sleep(2.5)  # a sweep or two later: nothing more
        await spectator.silent()
    assert await ended_events(auction_id) == 1
    assert await Order.count().where(Order.auction == auction_id) == 1
    won = await OutboxEmail.count().where(OutboxEmail.dedupe_key == f"auction_won:{auction_id}")
    assert won == 1 and len(inbox.to(bilal.email)) == 1


async def test_a_bid_outside_the_window_does_not_extend(
    live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    auction_id = await make_auction(seller, ends_in=timedelta(hours=1), soft_close_seconds=60)
    end = await end_time_of(auction_id)
    async with connect(live_server.url, auction_id, alice) as (socket, _):
        events, _ = await socket.bid(2600)
    assert [e["type"] for e in events] == ["new_bid"]
    assert await end_time_of(auction_id) == end


# --- reserve price -----------------------------------------------------------------------------


async def end_now(live_server: LiveServer, auction_id: int) -> datetime:
    """Schedule the ending a moment from now (the real scheduler and worker end it)."""
    end = utc_now() + timedelta(seconds=1)
    await Auction.update({Auction.end_time: end}).where(Auction.id == auction_id)
    await live_server.schedule_auction_end(auction_id, end)
    return end


async def test_reserve_not_met_ends_without_a_sale(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
    bilal: UserHandle,
) -> None:
    auction_id = await make_auction(seller, reserve_price="5000.00")
    assert (await rest_bid(client, auction_id, alice, 3000, None)).status_code == 201
    assert (await rest_bid(client, auction_id, bilal, 3500, None)).status_code == 201
    body = (await client.get(f"/api/auctions/{auction_id}/", headers=bilal.auth)).json()
    assert (body["reserve_met"], body["reserve_price"]) == (False, None)
    async with connect(live_server.url, auction_id) as (spectator, status):
        assert status["reserve_met"] is False
        await end_now(live_server, auction_id)
        ended = await spectator.receive(seconds=15)
    assert ended == {
        "type": "auction_ended",
        "data": {
            "auction_id": auction_id,
            "winner": None,
            "final_price": "3500.00",
            "status": "ended",
            "product_name": PRODUCT,
            "message": "Auction ended without a sale: the reserve price was not met.",
            "seq": 3,
            "reserve_met": False,
        },
    }
    row = await Auction.select(Auction.status, Auction.winner).where(Auction.id == auction_id)
    assert row == [{"status": "ended", "winner": None}]
    assert await Order.count() == 0
    not_met = f"Your auction for {PRODUCT} has ended. The reserve price was not met."
    assert await notices(client, seller) == [("auction_ended", not_met)]
    assert await notices(client, bilal) == [
        (
            "auction_lost",
            f"The auction for {PRODUCT} has ended without a sale: the reserve price was not met.",
        )
    ]
    assert [kind for kind, _ in await notices(client, alice)] == ["bid_outbid"]
    [to_seller] = await inbox.wait_for(seller.email)
    assert "The reserve price was not met." in to_seller.get_content()
    [to_bidder] = await inbox.wait_for(bilal.email)
    assert "without a sale: the reserve price was not met." in to_bidder.get_content()
    await asyncio.sleep(2.5)  # sweeps later: still once each
    assert (len(inbox.to(seller.email)), len(inbox.to(bilal.email))) == (1, 1)
    assert len(inbox.to(alice.email)) == 1  # the outbid email only
    as_seller = (await client.get(f"/api/auctions/{auction_id}/", headers=seller.auth)).json()
    assert (as_seller["reserve_price"], as_seller["reserve_met"]) == ("5000.00", False)
    assert as_seller["winner"] is None and as_seller["order_info"] is None


async def test_reserve_met_sells_as_usual(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
) -> None:
    auction_id = await make_auction(seller, reserve_price="3000.00")
    placed = await rest_bid(client, auction_id, alice, 3000, None)
    assert placed.status_code == 201
    async with connect(live_server.url, auction_id) as (spectator, status):
        assert status["reserve_met"] is True
        await end_now(live_server, auction_id)
        ended = await spectator.receive(seconds=15)
    assert (ended["data"]["winner"], ended["data"]["reserve_met"]) == (alice.username, True)
    assert ended["data"]["message"] == f"Auction ended. Winner: {alice.username} at Rs. 3000.00"
    [order] = await Order.select(Order.buyer).where(Order.auction == auction_id)
    assert order["buyer"] == alice.id
    [won] = await inbox.wait_for(alice.email)
    assert won["Subject"] == f"You won the auction for {PRODUCT}"


# --- secrecy of the maximum --------------------------------------------------------------------


async def test_a_maximum_reaches_nobody_but_its_owner(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    inbox: SmtpInbox,
    seller: UserHandle,
    alice: UserHandle,
    bilal: UserHandle,
) -> None:
    secret = "4321.37"  # never a price here, and no id or time looks like it
    auction_id = await make_auction(seller, starting_price="1000.00", min_increment="100.00")
    async with (
        connect(live_server.url, auction_id) as (spectator, _),
        connect(live_server.url, auction_id, alice) as (socket, _),
    ):
        _, answer = await socket.bid(1100, 4321.37)
        assert answer["data"]["max_amount"] == secret  # to its owner
        for amount in (1200, 1400):
            placed = await rest_bid(client, auction_id, bilal, amount, None)
            assert placed.status_code == 201 and placed.json()["is_leading"] is False
            assert secret not in placed.text
        heard = [json.dumps(e) for e in await spectator.events(5)]
        async with connect(live_server.url, auction_id, bilal) as (_, rival_status):
            pass
        async with connect(live_server.url, auction_id) as (_, anonymous_status):
            pass
        async with connect(live_server.url, auction_id, alice) as (_, own_status):
            assert own_status["my_max_bid"] == secret
    await inbox.wait_for(bilal.email, 2)
    readable = [
        *heard,
        json.dumps(rival_status),
        json.dumps(anonymous_status),
        (await client.get(f"/api/auctions/{auction_id}/bids/")).text,
        (await client.get("/api/auctions/", headers=bilal.auth)).text,
        (await client.get("/api/auctions/", headers=seller.auth)).text,
        *[
            (await client.get(f"/api/auctions/{auction_id}/", headers=h)).text
            for h in ({}, bilal.auth, seller.auth)
        ],
        (await client.get("/api/notifications/", headers=bilal.auth)).text,
        *[m.as_string() for m in inbox.to(bilal.email) + inbox.to(seller.email)],
        *[r["payload"] for r in await AuctionEvent.select(AuctionEvent.payload)],
    ]
    for text in readable:
        assert secret not in text, text
    own = (await client.get(f"/api/auctions/{auction_id}/", headers=alice.auth)).json()
    assert own["my_max_bid"] == secret and own["current_price"] == "1500.00"
