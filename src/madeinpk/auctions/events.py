"""Auction events on the wire: how each broadcast frame is built, named and carried.

A channel message is a header line with the event's ``seq`` in its auction, then the JSON frame
exactly as watchers receive it, so a process can order events without decoding them. Each event
is encoded once, whoever watches it, and stored as it was sent (``auction_event``) for replay.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from madeinpk.auctions.rules import Event, ExtendedEvent, NewBidEvent
from madeinpk.auctions.schemas import (
    AuctionEnded,
    AuctionEndedData,
    AuctionExtended,
    AuctionExtendedData,
    NewBid,
    NewBidData,
)
from madeinpk.money import format_money
from madeinpk.timestamps import utc_now

_encoder = msgspec.json.Encoder(decimal_format="string")
# There were bids, so "with no bids" would be untrue; the seller's and bidder's texts match it.
RESERVE_NOT_MET_MESSAGE = "Auction ended without a sale: the reserve price was not met."


def auction_channel(prefix: str, auction_id: int) -> str:
    """Pub/sub ignores Redis database numbers: the prefix keeps deployments (and test runs)
    that share a Redis from hearing each other's auctions."""
    return f"{prefix}:auction:{auction_id}"


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def frame(seq: int, payload: bytes) -> bytes:
    return str(seq).encode() + b"\n" + payload


def decode_frame(raw: bytes) -> tuple[int, bytes]:
    header, _, payload = raw.partition(b"\n")
    return int(header), payload


def event_payload(auction_id: int, event: Event) -> bytes:
    if isinstance(event, ExtendedEvent):
        data = AuctionExtendedData(auction_id=auction_id, end_time=event.end_time, seq=event.seq)
        return encode(AuctionExtended(data=data, server_time=utc_now()))
    return new_bid_payload(event)


def new_bid_payload(event: NewBidEvent) -> bytes:
    amount = format_money(event.amount)
    data = NewBidData(
        bidder=event.bidder,
        amount=amount,
        time=event.time,
        current_price=amount,
        seq=event.seq,
        auto=event.auto,
        total_bids=event.total_bids,
        min_next_bid=format_money(event.min_next_bid),
    )
    return encode(NewBid(data=data, server_time=utc_now()))


def auction_ended_payload(
    auction_id: int,
    seq: int,
    winner: str | None,
    final_price: Decimal,
    product_name: str,
    reserve_met: bool | None = None,
) -> bytes:
    price = format_money(final_price)
    data = AuctionEndedData(
        auction_id=auction_id,
        winner=winner,
        final_price=price,
        status="ended",
        product_name=product_name,
        message=(
            f"Auction ended. Winner: {winner} at Rs. {price}"
            if winner
            else RESERVE_NOT_MET_MESSAGE
            if reserve_met is False
            else "Auction ended with no bids."
        ),
        seq=seq,
        reserve_met=reserve_met,
    )
    return encode(AuctionEnded(data=data, server_time=utc_now()))
