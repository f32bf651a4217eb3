"""The WebSocket protocol (docs/websocket.md) over real connections to a real server."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from madeinpk.accounts.tables import AuthToken, Role, SellerProfile, UserProfile
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.notifications.tables import Notification, OutboxEmail
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import error, watch

pytestmark = pytest.mark.usefixtures("task_worker")


@pytest.fixture
async def auction(seller: UserHandle) -> int:
    return await make_auction(seller, images=3)


async def state(auction_id: int) -> tuple[Decimal, int, int]:
    row = (
        await Auction.select(Auction.current_price, Auction.bid_count)
        .where(Auction.id == auction_id)
        .first()
    )
    assert row is not None
    return Decimal(str(row["current_price"])), row["bid_count"], await Bid.count()


# --- auction_status ----------------------------------------------------------------------------


async def test_auction_status_has_every_documented_field(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller, images=3)
    await SellerProfile.update(
        {
            SellerProfile.brand_name: "Kashmiri Heritage Crafts",
            SellerProfile.biography: "Authentic Kashmiri handicrafts.",
            SellerProfile.is_verified: True,
            SellerProfile.average_rating: Decimal("4.85"),
            SellerProfile.total_feedbacks: 127,
        }
    ).where(SellerProfile.user == seller.id)
    async with watch(live_server.url, auction_id, buyer.token) as ws:
        for amount in (2600, 2700, 2800, 2900, 3000, 3100):
            reply = await ws.bid(amount)
            assert reply["type"] == "new_bid", reply
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
        message = await ws.receive()
    assert set(message) == {"type", "data"} and message["type"] == "auction_status"
    data = message["data"]
    assert set(data) == {
        "auction_id", "product", "seller", "starting_price", "current_price", "start_time",
        "end_time", "status", "is_active", "winner", "total_bids", "latest_bids",
        "seq", "server_time", "min_increment", "min_next_bid", "reserve_met",
        "soft_close_seconds", "my_max_bid",  # derived fields: docs/rest-api.md § Auctions
        "buy_now_price", "buy_now_open", "bought_now",  # Buy It Now: docs/websocket.md § 10
    }  # fmt: skip
    assert data["seq"] == 6 and data["server_time"].endswith("Z")
    assert data["auction_id"] == auction_id
    product = data["product"]
    assert set(product) == {"id", "name", "description", "condition", "category", "images"}
    assert product["name"] == "Handwoven Pashmina Shawl" and product["condition"] == "new"
    assert [(i["is_primary"], i["order"]) for i in product["images"]] == [
        (True, 0),
        (False, 1),
        (False, 2),
    ]
    assert all(i["url"].startswith("/media/products/") for i in product["images"])
    assert data["seller"] == {
        "id": seller.id,
        "username": seller.username,
        "email": seller.email,
        "brand_name": "Kashmiri Heritage Crafts",
        "biography": "Authentic Kashmiri handicrafts.",
        "is_verified": True,
        "average_rating": "4.85",
        "total_feedbacks": 127,
    }
    assert data["starting_price"] == "2500.00"
    assert data["current_price"] == "3100.00"
    assert data["start_time"].endswith("Z") and data["end_time"].endswith("Z")
    assert data["status"] == "active" and data["is_active"] is True
    assert data["winner"] is None
    assert data["total_bids"] == 6
    assert [b["amount"] for b in data["latest_bids"]] == [
        "3100.00",
        "3000.00",
        "2900.00",
        "2800.00",
        "2700.00",
    ]
    assert all(set(b) == {"bidder", "amount", "time", "auto"} for b in data["latest_bids"])
    assert not any(b["auto"] for b in data["latest_bids"])
    assert all(
        b["bidder"] == buyer.username and b["time"].endswith("Z") for b in data["latest_bids"]
    )


async def test_seller_without_profile_still_has_every_seller_field(
    live_server: LiveServer, buyer: UserHandle
) -> None:
    seller = await make_user(live_server.settings, role=Role.buyer)  # no seller profile row
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
        data = (await ws.receive())["data"]
    assert data["seller"] == {
        "id": seller.id,
        "username": seller.username,
        "email": seller.email,
        "brand_name": "",
        "biography": "",
        "is_verified": False,
        "average_rating": "0.00",
        "total_feedbacks": 0,
    }
    assert data["product"]["images"] == [] and data["product"]["category"] is None
    assert data["latest_bids"] == [] and data["total_bids"] == 0


async def test_anonymous_spectators_do_not_get_the_seller_email(
    live_server: LiveServer, auction: int, seller: UserHandle
) -> None:
    """The REST contract keeps seller emails private; signed-in watchers keep the field."""
    async with watch(live_server.url, auction, snapshot=False) as ws:
        data = (await ws.receive())["data"]
    assert data["seller"]["email"] is None
    assert data["seller"]["username"] == seller.username


async def test_ended_auction_shows_winner_and_inactive(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller, status=AuctionStatus.ended, ends_in=-timedelta(1))
    await Auction.update({Auction.winner: buyer.id}).where(Auction.id == auction_id)
    async with watch(live_server.url, auction_id, snapshot=False) as ws:
        data = (await ws.receive())["data"]
    assert data["status"] == "ended" and data["is_active"] is False
    assert data["winner"] == {"id": buyer.id, "username": buyer.username}


# --- connecting -----------------------------------------------------------------------------


async def test_spectator_watches_but_cannot_bid(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with (
        watch(live_server.url, auction) as spectator,
        watch(live_server.url, auction, buyer.token) as bidder,
    ):
        assert await spectator.bid(3000) == error(
            "You must be authenticated to place a bid", "unauthenticated"
        )
        assert (await bidder.bid(3000))["type"] == "new_bid"
        seen = await spectator.receive()
        assert seen["type"] == "new_bid" and seen["data"]["bidder"] == buyer.username


@pytest.mark.parametrize("expired", [False, True])
async def test_invalid_or_expired_token_closes_4401(
    live_server: LiveServer, auction: int, buyer: UserHandle, expired: bool
) -> None:
    token = "not-a-real-token"
    if expired:
        token = buyer.token
        await AuthToken.update({AuthToken.expires_at: utc_now()}).where(AuthToken.user == buyer.id)
    async with watch(live_server.url, auction, token, snapshot=False) as ws:
        assert await ws.closed_with() == (4401, "Invalid token")


@pytest.mark.parametrize(
    "auction_id", ["999999", "abc", "1.5", "-1", "99999999999999999999", "²", "4294967296"]
)
async def test_unknown_auction_sends_error_and_closes_4404(
    live_server: LiveServer, auction_id: str
) -> None:
    async with watch(live_server.url, auction_id, snapshot=False) as ws:
        assert await ws.receive() == error("Auction not found", "not_found")
        assert await ws.closed_with() == (4404, "Auction not found")


# --- place_bid: the rules, in order ------------------------------------------------------------


async def test_new_bid_reaches_every_watcher(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    other = await make_user(live_server.settings)
    async with (
        watch(live_server.url, auction, buyer.token) as bidder,
        watch(live_server.url, auction, other.token) as rival,
        watch(live_server.url, auction) as spectator,
    ):
        reply = await bidder.bid(3000)
        assert reply["type"] == "new_bid"
        assert set(reply["data"]) == {
            "bidder", "amount", "time", "current_price",
            "seq", "auto", "total_bids", "min_next_bid",  # docs/websocket.md § 7
        }  # fmt: skip
        assert reply["data"]["seq"] == 1 and reply["data"]["total_bids"] == 1
        assert reply["data"]["auto"] is False and reply["data"]["min_next_bid"] == "3000.01"
        assert bidder.acks == [
            {
                "type": "bid_accepted",
                "data": {
                    "bid_id": None,
                    "amount": "3000.00",
                    "max_amount": None,
                    "is_leading": True,
                    "current_price": "3000.00",
                    "seq": 1,
                },
            }
        ]
        assert reply["data"]["bidder"] == buyer.username
        assert reply["data"]["amount"] == reply["data"]["current_price"] == "3000.00"
        assert reply["data"]["time"].endswith("Z")
        assert await rival.receive() == reply
        assert await spectator.receive() == reply
    price, bid_count, bids = await state(auction)
    assert (price, bid_count, bids) == (Decimal("3000.00"), 1, 1)


async def test_bid_must_beat_current_price(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        for amount in (2500, 2499.99, 1):
            assert await ws.bid(amount) == error(
                "Bid must be higher than current price of 2500.00", "too_low"
            )
        assert (await ws.bid(2875))["type"] == "new_bid"
        assert await ws.bid(2875) == error(
            "Bid must be higher than current price of 2875.00", "too_low"
        )
    assert await state(auction) == (Decimal("2875.00"), 1, 1)


@pytest.mark.parametrize(
    ("status", "starts_in", "ends_in"),
    [
        (AuctionStatus.ended, -timedelta(hours=2), -timedelta(hours=1)),
        (AuctionStatus.cancelled, -timedelta(hours=1), timedelta(hours=1)),
        (AuctionStatus.completed, -timedelta(hours=2), -timedelta(hours=1)),
        (AuctionStatus.active, timedelta(hours=1), timedelta(hours=2)),  # not started
        (AuctionStatus.active, -timedelta(hours=2), -timedelta(seconds=1)),  # time passed
    ],
)
async def test_inactive_auction_refuses_bids(
    live_server: LiveServer,
    seller: UserHandle,
    buyer: UserHandle,
    status: AuctionStatus,
    starts_in: timedelta,
    ends_in: timedelta,
) -> None:
    auction_id = await make_auction(seller, status=status, starts_in=starts_in, ends_in=ends_in)
    async with watch(live_server.url, auction_id, buyer.token) as ws:
        assert await ws.bid(99999) == error("Auction is not active", "not_active")
    assert await state(auction_id) == (Decimal("2500.00"), 0, 0)


async def test_blocked_user_cannot_bid(live_server: LiveServer, auction: int) -> None:
    blocked = await make_user(live_server.settings, is_blocked=True)
    async with watch(live_server.url, auction, blocked.token) as ws:
        assert await ws.bid(3000) == error("Your account is blocked", "blocked")


async def test_user_blocked_after_connecting_cannot_bid(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await UserProfile.update({UserProfile.is_blocked: True}).where(UserProfile.user == buyer.id)
        assert await ws.bid(3000) == error("Your account is blocked", "blocked")
    assert await state(auction) == (Decimal("2500.00"), 0, 0)


async def test_seller_cannot_bid_on_own_auction(
    live_server: LiveServer, auction: int, seller: UserHandle
) -> None:
    async with watch(live_server.url, auction, seller.token) as ws:
        assert await ws.bid(3000) == error("You cannot bid on your own auction", "own_auction")


async def test_checks_run_in_the_documented_order(live_server: LiveServer) -> None:
    """Blocked beats not active beats own auction beats too low (docs/auction-rules.md § 2)."""
    blocked_seller = await make_user(live_server.settings, role=Role.seller, is_blocked=True)
    ended = await make_auction(blocked_seller, status=AuctionStatus.ended)
    async with watch(live_server.url, ended, blocked_seller.token) as ws:
        assert (await ws.bid(1))["message"] == "Your account is blocked"
    seller = await make_user(live_server.settings, role=Role.seller)
    own_ended = await make_auction(seller, status=AuctionStatus.ended)
    own = await make_auction(seller)
    async with watch(live_server.url, own_ended, seller.token) as ws:
        assert (await ws.bid(1))["message"] == "Auction is not active"
    async with watch(live_server.url, own, seller.token) as ws:
        assert (await ws.bid(1))["message"] == "You cannot bid on your own auction"


async def test_error_goes_to_the_sender_only(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with (
        watch(live_server.url, auction, buyer.token) as sender,
        watch(live_server.url, auction) as other,
    ):
        assert (await sender.bid(1))["type"] == "error"
        assert await other.silent()


# --- bad input never changes anything and never kills the connection ----------------------------

BAD_AMOUNTS = [
    ('{"type": "place_bid"}', "missing"),
    ('{"type": "place_bid", "amount": "abc"}', "text"),
    ('{"type": "place_bid", "amount": -3000}', "negative"),
    ('{"type": "place_bid", "amount": 0}', "zero"),
    ('{"type": "place_bid", "amount": NaN}', "NaN literal"),
    ('{"type": "place_bid", "amount": "NaN"}', "NaN string"),
    ('{"type": "place_bid", "amount": Infinity}', "Infinity literal"),
    ('{"type": "place_bid", "amount": 1e400}', "overflowing number"),
    ('{"type": "place_bid", "amount": ' + "9" * 4000 + "}", "4000 digits"),
    ('{"type": "place_bid", "amount": 100000000}', "too large"),
    ('{"type": "place_bid", "amount": 99999999.999}', "too many decimals, huge"),
    ('{"type": "place_bid", "amount": 3000.001}', "three decimals"),
    ('{"type": "place_bid", "amount": true}', "boolean"),
    ('{"type": "place_bid", "amount": null}', "null"),
    ('{"type": "place_bid", "amount": [3000]}', "list"),
    ('{"type": "place_bid", "amount": {"value": 3000}}', "object"),
]


@pytest.mark.parametrize(("frame", "case"), BAD_AMOUNTS, ids=[c for _, c in BAD_AMOUNTS])
async def test_bad_amount_is_refused_and_connection_survives(
    live_server: LiveServer, auction: int, buyer: UserHandle, frame: str, case: str
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send(frame)
        reply = await ws.receive()
        assert reply["type"] == "error"
        assert reply["message"] in ("Invalid bid amount", "Invalid message: not valid JSON")
        assert await state(auction) == (Decimal("2500.00"), 0, 0)
        assert (await ws.bid(3000))["type"] == "new_bid"  # still usable


NOT_JSON = "Invalid message: not valid JSON"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("hello", "Invalid message: not valid JSON"),
        ("{", "Invalid message: not valid JSON"),
        ("[]", "Unknown message type"),
        ('{"type": "make_offer"}', "Unknown message type"),
        ('{"amount": 3000}', "Unknown message type"),
        ("", "Invalid message: send JSON text frames"),
        (b"\x00\x01binary", "Invalid message: send JSON text frames"),
        (b'{"type": "ping"}', "Invalid message: send JSON text frames"),
        # Nested past the decoder's recursion limit, anywhere in the frame: no 4500 close.
        ("[" * 1500 + "]" * 1500, "Invalid message: not valid JSON"),
        ('{"a":' * 600 + "1" + "}" * 600, "Unknown message type"),
        ('{"type": "place_bid", "amount": ' + "[" * 1500 + "]" * 1500 + "}", NOT_JSON),
        ('{"type": "place_bid", "amount": 1, "bid_id": ' + "[" * 1500 + "]" * 1500 + "}", NOT_JSON),
        ('{"type": "ping", "x": ' + "[" * 1500 + "]" * 1500 + "}", NOT_JSON),
    ],
)
async def test_malformed_frames_get_an_error_not_a_crash(
    live_server: LiveServer, auction: int, buyer: UserHandle, frame: str | bytes, message: str
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send(frame)
        assert await ws.receive() == error(message, "invalid_message")
        assert (await ws.bid(3000))["type"] == "new_bid"


async def test_a_text_frame_that_is_not_utf8_is_the_documented_close_1007(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    """RFC 6455 § 8.1: invalid UTF-8 in a text frame fails the connection (1007), the one
    frame the protocol cannot answer; never the app's 4500 or 1011."""
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.connection.send(b'{"type": "place_bid", "amount": "\xff\xfe"}', text=True)
        code, _ = await ws.closed_with()
        assert code == 1007


async def test_the_protocols_own_closes_are_not_logged_as_server_errors(
    live_server: LiveServer,
    auction: int,
    buyer: UserHandle,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1007 (not UTF-8) and 1009 (past the server's 64 KiB frame limit) are closed by the
    protocol layer, for the client's mistake: no ERROR traceback (uvicorn logged one for
    1007), and no second close from the app ("Exception in ASGI application")."""
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    try:
        for frame, code in ((b'{"type": "\xff"}', 1007), (b"x" * 70_000, 1009)):
            async with watch(live_server.url, auction, buyer.token) as ws:
                await ws.connection.send(frame, text=True)
                assert (await ws.closed_with())[0] == code
        assert (await client.get(f"/api/auctions/{auction}/")).status_code == 200
    finally:
        server_log.removeHandler(caplog.handler)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_ping_gets_pong(live_server: LiveServer, auction: int) -> None:
    async with watch(live_server.url, auction) as ws:
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}


async def test_oversized_frame_closes_1009(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send('{"type": "place_bid", "amount": 3000, "pad": "' + "x" * 5000 + '"}')
        code, _ = await ws.closed_with()
        assert code == 1009
    assert await state(auction) == (Decimal("2500.00"), 0, 0)


async def test_rate_limit(live_server: LiveServer, auction: int, buyer: UserHandle) -> None:
    limit = live_server.settings.bid_rate_limit
    async with watch(live_server.url, auction, buyer.token) as ws:
        for step in range(limit * 2):
            await ws.send({"type": "place_bid", "amount": 3000 + step})
        replies: list[dict[str, object]] = []  # one answer per bid: an error or bid_accepted
        while len(replies) < limit * 2:
            message = await ws.receive()
            if message["type"] != "new_bid":
                replies.append(message)
    limited = [r for r in replies if r == error("Too many bids, slow down", "rate_limited")]
    accepted = [r for r in replies if r["type"] == "bid_accepted"]
    assert limited, "bids beyond the limit are refused"
    assert len(accepted) + len(limited) == limit * 2
    assert len(accepted) <= 2 * limit  # at most two one-second windows were touched
    _, bid_count, bids = await state(auction)
    assert bid_count == bids == len(accepted)  # refused bids were not processed


# --- outbid notification and email -------------------------------------------------------------


async def test_outbid_notification_and_email(
    live_server: LiveServer, auction: int, buyer: UserHandle, inbox: SmtpInbox
) -> None:
    rival = await make_user(live_server.settings)
    async with watch(live_server.url, auction, buyer.token) as first:
        assert (await first.bid(2875))["type"] == "new_bid"
        assert (await first.bid(2900))["type"] == "new_bid"  # outbidding yourself: no notice
    async with watch(live_server.url, auction, rival.token) as second:
        assert (await second.bid(3000))["type"] == "new_bid"
    [email] = await inbox.wait_for(buyer.email)
    assert email["Subject"] == "You have been outbid on Handwoven Pashmina Shawl"
    assert email.get_content().replace("\r\n", "\n") == (
        f"Dear {buyer.username},\n\n"
        "You have been outbid on the auction for Handwoven Pashmina Shawl.\n\n"
        "New highest bid: Rs. 3000.00\n\n"
        "If you're still interested, you can place a higher bid to regain the lead.\n\n"
        "Log in to your MadeInPK account to view the auction and place a new bid.\n\n"
        "Thank you for using MadeInPK!\n"
    )
    notes = await Notification.select().where(
        (Notification.user == buyer.id) & (Notification.notification_type == "bid_outbid")
    )
    assert [(n["title"], n["message"], n["auction"], n["is_read"]) for n in notes] == [
        (
            "You have been outbid",
            "Someone placed a higher bid of Rs. 3000.00 on Handwoven Pashmina Shawl",
            auction,
            False,
        )
    ]
    await asyncio.sleep(0.5)
    assert len(inbox.to(buyer.email)) == 1, "sent exactly once"
    assert inbox.to(rival.email) == []
    assert not await Notification.exists().where(
        (Notification.user == rival.id) & (Notification.notification_type == "bid_outbid")
    )


async def test_outbid_email_is_retried_after_an_smtp_failure(
    live_server: LiveServer, auction: int, buyer: UserHandle, inbox: SmtpInbox
) -> None:
    rival = await make_user(live_server.settings)
    inbox.refuse_next = 2
    async with watch(live_server.url, auction, buyer.token) as first:
        assert (await first.bid(2600))["type"] == "new_bid"
    async with watch(live_server.url, auction, rival.token) as second:
        assert (await second.bid(2700))["type"] == "new_bid"
    [email] = await inbox.wait_for(buyer.email)
    assert inbox.refused == 2
    assert email["Subject"] == "You have been outbid on Handwoven Pashmina Shawl"
    for _ in range(100):  # the sender marks the row sent just after SMTP accepted it
        outbox = await OutboxEmail.select().where(OutboxEmail.to_address == buyer.email)
        if outbox and outbox[0]["sent_at"] is not None:
            break
        await asyncio.sleep(0.05)
    assert len(outbox) == 1 and outbox[0]["sent_at"] is not None and outbox[0]["attempts"] == 3
    assert "451" in outbox[0]["last_error"]


async def test_no_notification_when_outbidding_yourself(
    live_server: LiveServer, auction: int, buyer: UserHandle, inbox: SmtpInbox
) -> None:
    async with watch(live_server.url, auction, buyer.token) as ws:
        for amount in (2600, 2700, 2800):
            reply = await ws.bid(amount)
            assert reply["type"] == "new_bid", reply
    await asyncio.sleep(0.5)
    assert inbox.to(buyer.email) == []
    assert not await Notification.exists().where(Notification.notification_type == "bid_outbid")


async def test_one_winning_bid_and_it_is_the_highest(
    live_server: LiveServer, auction: int, buyer: UserHandle
) -> None:
    rival = await make_user(live_server.settings)
    async with (
        watch(live_server.url, auction, buyer.token) as a,
        watch(live_server.url, auction, rival.token) as b,
    ):
        assert (await a.bid(2600))["type"] == "new_bid"
        await b.receive()
        assert (await b.bid(2700))["type"] == "new_bid"
    winning = await Bid.select(Bid.bidder, Bid.amount).where(
        (Bid.auction == auction) & (Bid.is_winning == True)  # noqa: E712
    )
    assert [(w["bidder"], Decimal(str(w["amount"]))) for w in winning] == [
        (rival.id, Decimal("2700.00"))
    ]
