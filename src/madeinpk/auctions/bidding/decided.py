"""What a decision records, beside the state it leaves: the bids, the events broadcast for them
and who lost the lead. Plain values, written by ``bidding.writes`` and ``lifecycle``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rules imports this module; annotations only
    from madeinpk.auctions.bidding.rules import Bidder


@dataclass(frozen=True, slots=True)
class RecordedBid:
    bidder: Bidder
    amount: Decimal
    time: datetime
    seq: int
    is_auto: bool = False
    max_amount: Decimal | None = None  # the attempt's ceiling, as sent (a removal replays it)
    raised_max: Decimal | None = None  # its bidder's maximum, raised while this bid won


@dataclass(frozen=True, slots=True)
class NewBidEvent:
    seq: int
    bidder: str
    amount: Decimal
    time: datetime
    auto: bool
    total_bids: int
    min_next_bid: Decimal


@dataclass(frozen=True, slots=True)
class ExtendedEvent:
    """Soft close: a late bid moved the end."""

    seq: int
    end_time: datetime


Event = NewBidEvent | ExtendedEvent


@dataclass(frozen=True, slots=True)
class Outbid:
    """``bidder`` lost the lead to the bid with event number ``seq``, at ``price``."""

    bidder: Bidder
    price: Decimal
    seq: int
