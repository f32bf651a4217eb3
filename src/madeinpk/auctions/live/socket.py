"""``/ws/auction/{id}/``: the customer's WebSocket protocol, plus the engine's additions
(``server_time``, ``seq``, ``bid_accepted``, ``error.code``, ``bid_id``). Translation only: bids
go to ``auctions.bidding``, fan-out is ``auctions.live``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from litestar import WebSocket, websocket_listener
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketException

from madeinpk.auctions.bidding.buy_now import Bought
from madeinpk.auctions.bidding.desk import BidDesk, BidRequest
from madeinpk.auctions.bidding.rate_limit import BidRateLimiter
from madeinpk.auctions.bidding.refusals import (
    BUY_UNAUTHENTICATED,
    INVALID_BID_ID,
    INVALID_MAX_AMOUNT,
    KEY_PATTERN,
    MESSAGES,
    Reason,
    Refused,
    refusal,
)
from madeinpk.auctions.bidding.removal import removal_request
from madeinpk.auctions.bidding.removal_rules import Remover
from madeinpk.auctions.bidding.rules import Accepted, Bidder
from madeinpk.auctions.live.hub import LiveAuctions
from madeinpk.auctions.live.messages import (
    AuctionStatus,
    AuctionStatusData,
    BidAccepted,
    BidAcceptedData,
    BuyNow,
    BuyNowAccepted,
    BuyNowAcceptedData,
    ClientMessage,
    Error,
    PlaceBid,
    Pong,
    RetractBid,
)
from madeinpk.auctions.live.replay import InvalidSinceSeq, as_replay, parse_since_seq, stored_events
from madeinpk.auctions.live.watchers import Watcher
from madeinpk.auctions.tables import Auction as AuctionRow
from madeinpk.db.database import MAX_ID
from madeinpk.http.auth import Account, AccountsByKey
from madeinpk.http.decoding import Undecodable, decode_json
from madeinpk.http.socket_cap import SocketCap, place_under_cap
from madeinpk.http.websocket import INVALID_TOKEN_CODE, InvalidMessage, read_message
from madeinpk.money import InvalidAmount, format_money, parse_amount
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4096
NOT_FOUND_CODE = 4404
INVALID_SINCE_SEQ_CODE = 4400
INVALID_SINCE_SEQ = "Invalid since_seq: use a whole number, 0 or more"

_decoder = msgspec.json.Decoder(ClientMessage)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Connection:
    auction_id: int
    account: Account | None  # None: a spectator, who may watch but not bid
    watcher: Watcher


def _error(reason: Reason, message: str | None = None, bid_id: str | None = None) -> Error:
    return Error(
        message=message or refusal(reason).message,
        code=reason.value,
        server_time=utc_now(),
        bid_id=bid_id if bid_id is not None else msgspec.UNSET,
    )


async def _send(socket: WebSocket[Any, Any, Any], message: msgspec.Struct) -> None:
    await socket.send_data(_encoder.encode(message), mode="text")


def _answer(connection: Connection, message: msgspec.Struct) -> None:
    """An answer to the socket's own message: after whatever is already on its way to it, and
    written straight to the transport like the events (not through the ASGI send)."""
    connection.watcher.reply(_encoder.encode(message).decode())


@dataclass(frozen=True, slots=True)
class AuctionSocketServices:
    """What the auction socket needs of the app, as ONE dependency: Litestar resolves several
    independent dependencies in a task group of their own, which cost a connect storm a tenth
    of its CPU (as much as the socket's own work)."""

    cap: SocketCap
    tokens: AccountsByKey
    live: LiveAuctions
    desk: BidDesk
    limiter: BidRateLimiter
    retract_seconds: int = 0  # RETRACT_SECONDS: a bidder's retract_bid (0: off)


@asynccontextmanager
async def auction_connection(
    socket: WebSocket[Any, Any, Any],
    auction_socket_services: NamedDependency[AuctionSocketServices],
) -> AsyncIterator[None]:
    """Its dependency is the app's (Litestar resolves it once per connection)."""
    services = auction_socket_services
    async with (
        place_under_cap(socket, services.cap),
        _watching(socket, services.tokens, services.live),
    ):
        yield


@asynccontextmanager
async def _watching(
    socket: WebSocket[Any, Any, Any], tokens: AccountsByKey, live: LiveAuctions
) -> AsyncIterator[None]:
    token = socket.query_params.get("token")
    account = await tokens.account(token) if token else None
    await socket.accept()
    if token and account is None:
        raise WebSocketException(detail="Invalid token", code=INVALID_TOKEN_CODE)
    raw_id = str(socket.path_params["auction_id"])
    auction_id = (
        int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10 else None
    )
    if auction_id is not None and auction_id > MAX_ID:
        auction_id = None
    if auction_id is None:
        await _send(socket, _error(Reason.not_found))
        raise WebSocketException(detail=MESSAGES[Reason.not_found], code=NOT_FOUND_CODE)
    try:
        since_seq = parse_since_seq(socket.query_params.get("since_seq"))
    except InvalidSinceSeq:
        await _send(socket, _error(Reason.invalid_message, INVALID_SINCE_SEQ))
        raise WebSocketException(detail="Invalid since_seq", code=INVALID_SINCE_SEQ_CODE) from None
    # Join before reading the snapshot, so no bid can slip between the two.
    watcher = await live.join(auction_id, socket)
    try:
        snapshot = await live.status(
            watcher, show_seller_email=account is not None, at_least=since_seq or 0
        )
        if snapshot is not None and account is not None:
            snapshot = await _with_own_maximum(snapshot, account)
        if snapshot is None:
            await _send(socket, _error(Reason.not_found))
            raise WebSocketException(detail=MESSAGES[Reason.not_found], code=NOT_FOUND_CODE)
        await _send(socket, AuctionStatus(data=snapshot, server_time=snapshot.server_time))
        if since_seq is not None:
            await _replay(socket, auction_id, since_seq, snapshot.seq)
        live.ready(watcher, snapshot.seq)
        socket.state.connection = Connection(auction_id, account, watcher)
        yield
    finally:
        await live.leave(watcher)


async def _replay(socket: WebSocket[Any, Any, Any], auction_id: int, after: int, upto: int) -> None:
    """Events ``(after, upto]`` from the log, as broadcast; live ones wait in the watcher."""
    while after < upto:
        events = await stored_events(auction_id, after, upto)
        if not events:
            break
        for seq, payload in events:
            await socket.send({"type": "websocket.send", "text": as_replay(payload), "bytes": None})
            after = seq


async def _with_own_maximum(snapshot: AuctionStatusData, account: Account) -> AuctionStatusData:
    """``my_max_bid`` is the viewer's alone, and only a leader has one: the shared state cannot
    carry it. Only a watcher whose bid is the latest (the leader) costs a read."""
    latest = snapshot.latest_bids[0] if snapshot.latest_bids else None
    if latest is None or latest.bidder != account.username:
        return snapshot
    row = (
        await AuctionRow.select(AuctionRow.leader, AuctionRow.leader_max)
        .where(AuctionRow.id == snapshot.auction_id)
        .first()
    )
    if row is None or row["leader"] != account.id or row["leader_max"] is None:
        return snapshot
    return msgspec.structs.replace(snapshot, my_max_bid=format_money(row["leader_max"]))


def _amount(raw: bytes) -> Decimal:
    """The money rule REST reads an amount by (``parse_amount``: a JSON number or a numeric
    string, read exactly as written); booleans, null and a missing amount are invalid."""
    try:
        return parse_amount(decode_json(raw, exact_numbers=True) if raw else None)
    except Undecodable:  # an integer past 64 bits: no amount either
        raise InvalidAmount(MESSAGES[Reason.invalid_amount]) from None


def _bid_id(message: PlaceBid | BuyNow) -> str | None:
    """The optional key: absent or null is none; anything but a short safe string is invalid."""
    raw = bytes(message.bid_id)
    if not raw or raw == b"null":
        return None
    try:
        key = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        key = None
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValueError(INVALID_BID_ID)
    return key


@websocket_listener(
    "/ws/auction/{auction_id:str}/",
    connection_lifespan=auction_connection,
    receive_mode="text",
)
async def auction_socket(
    data: str,
    socket: WebSocket[Any, Any, Any],
    auction_socket_services: NamedDependency[AuctionSocketServices],
) -> None:
    """Every frame of a connection; the dependencies are resolved once, when it opens."""
    connection: Connection = socket.state.connection
    try:
        message = read_message(data, _decoder, MAX_FRAME_BYTES)
    except InvalidMessage as exc:
        if exc.field == "amount":
            _answer(connection, _error(Reason.invalid_amount))
        else:
            _answer(connection, _error(Reason.invalid_message, exc.message))
        return
    services = auction_socket_services
    if isinstance(message, RetractBid):
        await _retract_bid(connection, message, services)
        return
    if not isinstance(message, PlaceBid | BuyNow):
        _answer(connection, Pong(server_time=utc_now()))
        return
    try:
        bid_id = _bid_id(message)
    except ValueError as exc:
        _answer(connection, _error(Reason.invalid_message, str(exc)))
        return
    if isinstance(message, BuyNow):
        await _buy_now(connection, bid_id, services.desk, services.limiter)
        return
    await _place_bid(connection, message, bid_id, services.desk, services.limiter)


async def _retract_bid(
    connection: Connection, message: RetractBid, services: AuctionSocketServices
) -> None:
    """A bidder retracts its own bid (docs/auction-rules.md § 10): the answer is the broadcast
    ``bid_removed`` every watcher gets, or an ``error`` to the sender."""
    account = connection.account
    if account is None:
        _answer(
            connection, _error(Reason.unauthenticated, "You must be authenticated to retract a bid")
        )
        return
    if not await services.limiter.allow(account.id):
        _answer(connection, _error(Reason.rate_limited))
        return
    request = await removal_request(
        message.id,
        Remover(account.id, account.is_admin),
        as_staff=False,
        retract_seconds=services.retract_seconds,
        auction_id=connection.auction_id,
    )
    try:
        outcome = request if isinstance(request, Refused) else await services.desk.remove(request)
    except Exception:
        logger.exception("Retraction on auction %s failed unexpectedly", connection.auction_id)
        outcome = refusal(Reason.internal)
    if isinstance(outcome, Refused):
        _answer(connection, _error(outcome.reason, outcome.message))


async def _place_bid(
    connection: Connection,
    message: PlaceBid,
    bid_id: str | None,
    desk: BidDesk,
    limiter: BidRateLimiter,
) -> None:
    account = connection.account
    if account is None:
        _answer(connection, _error(Reason.unauthenticated, bid_id=bid_id))
        return
    if not await limiter.allow(account.id):
        _answer(connection, _error(Reason.rate_limited, bid_id=bid_id))
        return
    try:
        amount = _amount(bytes(message.amount))
    except InvalidAmount:
        _answer(connection, _error(Reason.invalid_amount, bid_id=bid_id))
        return
    raw_max = bytes(message.max_amount)
    try:
        max_amount = _amount(raw_max) if raw_max and raw_max != b"null" else None
    except InvalidAmount:
        _answer(connection, _error(Reason.invalid_max_amount, INVALID_MAX_AMOUNT, bid_id))
        return
    bidder = Bidder(account.id, account.username, account.email, account.language)
    try:
        outcome = await desk.place(
            BidRequest(connection.auction_id, bidder, amount, bid_id, max_amount)
        )
    except Exception:
        # Never leak internals, never drop the watcher; but an operator must hear about it.
        logger.exception("Bid on auction %s failed unexpectedly", connection.auction_id)
        _answer(connection, _error(Reason.internal, bid_id=bid_id))
        return
    if not isinstance(outcome, Accepted):  # a bid is never a purchase
        refused = outcome if isinstance(outcome, Refused) else refusal(Reason.internal)
        _answer(connection, _error(refused.reason, refused.message, bid_id))
        return
    accepted = BidAccepted(
        data=BidAcceptedData(
            bid_id=bid_id,
            amount=format_money(outcome.amount),
            max_amount=format_money(outcome.max_amount) if outcome.max_amount else None,
            is_leading=outcome.is_leading,
            current_price=format_money(outcome.current_price),
            seq=outcome.seq,
        ),
        server_time=utc_now(),
    )
    connection.watcher.reply_after(outcome.seq, _encoder.encode(accepted).decode())


async def _buy_now(
    connection: Connection, bid_id: str | None, desk: BidDesk, limiter: BidRateLimiter
) -> None:
    """Buy It Now: decided by the desk in order with the bids; answered, after the
    ``auction_ended`` it caused, with ``buy_now_accepted``, or with ``error``."""
    account = connection.account
    if account is None:
        _answer(connection, _error(Reason.unauthenticated, BUY_UNAUTHENTICATED, bid_id))
        return
    if not await limiter.allow(account.id):
        _answer(connection, _error(Reason.rate_limited, bid_id=bid_id))
        return
    buyer = Bidder(account.id, account.username, account.email, account.language)
    try:
        outcome = await desk.place(
            BidRequest(connection.auction_id, buyer, Decimal(0), bid_id, buy_now=True)
        )
    except Exception:
        logger.exception("Buy It Now on auction %s failed unexpectedly", connection.auction_id)
        _answer(connection, _error(Reason.internal, bid_id=bid_id))
        return
    if not isinstance(outcome, Bought):  # a purchase is never a bid
        refused = outcome if isinstance(outcome, Refused) else refusal(Reason.internal)
        _answer(connection, _error(refused.reason, refused.message, bid_id))
        return
    bought = BuyNowAccepted(
        data=BuyNowAcceptedData(
            bid_id=bid_id,
            price=format_money(outcome.price),
            order_id=outcome.order_id,
            order_number=outcome.order_number,
            seq=outcome.seq,
        ),
        server_time=utc_now(),
    )
    connection.watcher.reply_after(outcome.seq, _encoder.encode(bought).decode())
