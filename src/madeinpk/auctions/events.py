"""The one publisher of auction events to the channels plugin (Redis pub/sub in production).

A channel message is a header line with the bid's sequence number in its auction, then the
JSON frame exactly as watchers receive it. Each event is encoded once, whoever watches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar.channels import ChannelsPlugin

from madeinpk.auctions.schemas import AuctionEnded, AuctionEndedData, NewBid, NewBidData
from madeinpk.money import format_money

if TYPE_CHECKING:
    from madeinpk.auctions.service import PlacedBid

_encoder = msgspec.json.Encoder()
NO_SEQUENCE = b"-"


def auction_channel(auction_id: int) -> str:
    return f"auction:{auction_id}"


def encode_frame(seq: int | None, message: msgspec.Struct) -> bytes:
    header = str(seq).encode() if seq is not None else NO_SEQUENCE
    return header + b"\n" + _encoder.encode(message)


def decode_frame(raw: bytes) -> tuple[int | None, str]:
    header, _, payload = raw.partition(b"\n")
    return (None if header == NO_SEQUENCE else int(header)), payload.decode()


def new_bid_frame(bid: PlacedBid) -> bytes:
    amount = format_money(bid.amount)
    data = NewBidData(
        bidder=bid.bidder_username, amount=amount, time=bid.time, current_price=amount
    )
    return encode_frame(bid.seq, NewBid(data=data))


def auction_ended_frame(data: AuctionEndedData) -> bytes:
    return encode_frame(None, AuctionEnded(data=data))


class AuctionEvents:
    """Publishes through the app's channels plugin; other processes publish the same frames."""

    def __init__(self, channels: ChannelsPlugin) -> None:
        self._channels = channels

    def new_bid(self, bid: PlacedBid) -> None:
        self._channels.publish(new_bid_frame(bid), [auction_channel(bid.auction_id)])

    def auction_ended(self, data: AuctionEndedData) -> None:
        self._channels.publish(auction_ended_frame(data), [auction_channel(data.auction_id)])
