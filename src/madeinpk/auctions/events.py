"""Auction events on the wire: how each broadcast frame is built, named and carried.

A channel message is a header line with the event's ``seq`` in its auction, then the JSON frame
exactly as watchers receive it, so a process can order events without decoding them. Each event
is encoded once, whoever watches it, and stored as it was sent (``auction_event``) for replay.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from madeinpk.auctions.bidding.rules import AuctionStatus, Event, ExtendedEvent, NewBidEvent
from madeinpk.auctions.live.messages import (
    AuctionEnded,
    AuctionEndedData,
    AuctionExtended,
    AuctionExtendedData,
    AuctionStarted,
    AuctionStartedData,
    BidRemoved,
    BidRemovedData,
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


def frames(events: list[tuple[int, bytes]], committed_at: float) -> bytes:
    """One channel message for a batch's events: a ``seq committed-at`` line and a payload line
    each (JSON has no raw newline), so a batch costs one publish however many bids it recorded;
    the commit time (Unix seconds) lets every process measure its fan-out delay."""
    stamp = f" {committed_at:.6f}".encode()
    return b"\n".join(str(seq).encode() + stamp + b"\n" + payload for seq, payload in events)


def decode_frames(raw: bytes) -> tuple[list[tuple[int, bytes]], float | None]:
    """The events of a channel message, and when they were committed (if it says)."""
    parts = raw.split(b"\n")
    if len(parts) % 2:
        raise ValueError("a frame without its payload")
    events, committed_at = [], None
    for i in range(0, len(parts), 2):
        seq, _, stamp = parts[i].partition(b" ")
        events.append((int(seq), parts[i + 1]))
        if stamp:
            committed_at = float(stamp)
    return events, committed_at


def event_payload(auction_id: int, event: Event) -> bytes:
    if isinstance(event, ExtendedEvent):
        data = AuctionExtendedData(auction_id=auction_id, end_time=event.end_time, seq=event.seq)
        return encode(AuctionExtended(data=data, server_time=utc_now()))
    return new_bid_payload(event)


def auction_started_payload(
    auction_id: int, seq: int, start_time: datetime, end_time: datetime
) -> bytes:
    data = AuctionStartedData(
        auction_id=auction_id, seq=seq, start_time=start_time, end_time=end_time
    )
    return encode(AuctionStarted(seq=seq, data=data, server_time=utc_now()))


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
    buy_now: bool = False,
) -> bytes:
    price = format_money(final_price)
    data = AuctionEndedData(
        auction_id=auction_id,
        winner=winner,
        final_price=price,
        status=AuctionStatus.ended.value,
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
        buy_now=True if buy_now else msgspec.UNSET,
    )
    return encode(AuctionEnded(data=data, server_time=utc_now()))


def bid_removed_payload(data: BidRemovedData) -> bytes:
    return encode(BidRemoved(seq=data.seq, data=data, server_time=utc_now()))
