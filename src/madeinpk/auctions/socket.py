"""``/ws/auction/{id}/``: the customer's WebSocket protocol. Translation only; rules live in
``auctions.service`` and fan-out in ``auctions.live``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import WebSocket, websocket_listener
from litestar.exceptions import WebSocketException

from madeinpk.accounts.auth import Account, resolve_token
from madeinpk.auctions import service
from madeinpk.auctions.events import AuctionEvents
from madeinpk.auctions.live import LiveAuctions, Watcher
from madeinpk.auctions.rate_limit import BidRateLimiter
from madeinpk.auctions.schemas import AuctionStatus, ClientMessage, Error, PlaceBid, Pong
from madeinpk.money import InvalidAmount, parse_amount

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4096
MAX_ID = 2**31 - 1  # serial primary keys
INVALID_TOKEN_CODE = 4401
NOT_FOUND_CODE = 4404
MESSAGE_TOO_BIG = 1009

_decoder = msgspec.json.Decoder(ClientMessage)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Connection:
    auction_id: int
    account: Account | None  # None: a spectator, who may watch but not bid
    watcher: Watcher


async def _send(socket: WebSocket[Any, Any, Any], message: msgspec.Struct) -> None:
    await socket.send_data(_encoder.encode(message), mode="text")


@asynccontextmanager
async def auction_connection(socket: WebSocket[Any, Any, Any]) -> AsyncIterator[None]:
    token = socket.query_params.get("token")
    account = await resolve_token(token) if token else None
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
        await _send(socket, Error(message="Auction not found"))
        raise WebSocketException(detail="Auction not found", code=NOT_FOUND_CODE)
    live: LiveAuctions = socket.app.state.live
    # Join before reading the snapshot, so no bid can slip between the two.
    watcher = await live.join(auction_id, socket)
    try:
        snapshot = await service.auction_status(auction_id)
        if snapshot is None:
            await _send(socket, Error(message="Auction not found"))
            raise WebSocketException(detail="Auction not found", code=NOT_FOUND_CODE)
        await _send(socket, AuctionStatus(data=snapshot))
        live.ready(watcher, snapshot.total_bids)
        socket.state.connection = Connection(auction_id, account, watcher)
        yield
    finally:
        await live.leave(watcher)


def _amount(message: PlaceBid) -> Decimal:
    """A JSON number only: strings, booleans, null and missing amounts are all invalid."""
    raw = bytes(message.amount)
    if not raw or raw[:1] not in b"-0123456789":
        raise InvalidAmount("Invalid bid amount")
    try:
        return parse_amount(Decimal(raw.decode()))
    except (InvalidOperation, UnicodeDecodeError):
        raise InvalidAmount("Invalid bid amount") from None


def _problem(data: str) -> str | None:
    if not data:
        return "Invalid message: send JSON text frames"
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return "Invalid message: not valid JSON"
    return None


@websocket_listener(
    "/ws/auction/{auction_id:str}/",
    connection_lifespan=auction_connection,
    receive_mode="text",
)
async def auction_socket(data: str, socket: WebSocket[Any, Any, Any]) -> None:
    if len(data.encode()) > MAX_FRAME_BYTES:
        raise WebSocketException(detail="Message too big", code=MESSAGE_TOO_BIG)
    connection: Connection = socket.state.connection
    try:
        message = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        reply = _problem(data) or (
            "Invalid bid amount" if "amount" in str(exc) else "Unknown message type"
        )
        await _send(socket, Error(message=reply))
        return
    if not isinstance(message, PlaceBid):
        await _send(socket, Pong())
        return
    if connection.account is None:
        await _send(socket, Error(message="You must be authenticated to place a bid"))
        return
    limiter: BidRateLimiter = socket.app.state.bid_rate_limiter
    if not limiter.allow(connection.account.id):
        await _send(socket, Error(message="Too many bids, slow down"))
        return
    try:
        amount = _amount(message)
    except InvalidAmount:
        await _send(socket, Error(message="Invalid bid amount"))
        return
    events: AuctionEvents = socket.app.state.auction_events
    try:
        await service.place_bid(connection.auction_id, connection.account, amount, events)
    except service.BidRejected as rejected:
        await _send(socket, Error(message=rejected.message))
    except Exception:
        # Never leak internals, never drop the watcher; but an operator must hear about it.
        logger.exception("Bid on auction %s failed unexpectedly", connection.auction_id)
        await _send(socket, Error(message="Your bid could not be processed, please try again"))
