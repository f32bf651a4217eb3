"""The derived fields of an auction (docs/rest-api.md § Auctions), computed one way for the REST
Auction body and the WebSocket ``auction_status``, with the rule core's own step function, so
what a page shows as the lowest next bid is what the bid path will accept."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from madeinpk.auctions.bidding.buy_now import buy_now_allowed
from madeinpk.auctions.bidding.rules import AuctionStatus, Increments, step_at
from madeinpk.money import format_money, stored_money, to_money


@dataclass(frozen=True, slots=True)
class Derived:
    min_increment: str
    min_next_bid: str
    reserve_met: bool | None
    my_max_bid: str | None
    buy_now_price: str | None  # Buy It Now: its price, whether it can be used, whether it was
    buy_now_open: bool
    bought_now: bool


def derived_fields(row: dict[str, Any], viewer_id: int | None, increments: Increments) -> Derived:
    """``row`` holds the auction's columns ``current_price, min_increment, reserve_price,
    leader, leader_max, status, bid_count, buy_now_price, bought_now``. The standing maximum
    goes to its owner only: the leader."""
    price = to_money(row["current_price"])
    step = step_at(price, stored_money(row["min_increment"]), increments)
    reserve = stored_money(row["reserve_price"])
    leader_max = stored_money(row["leader_max"])
    buy_now = stored_money(row["buy_now_price"])
    mine = viewer_id is not None and row["leader"] == viewer_id and leader_max is not None
    return Derived(
        min_increment=format_money(step),
        min_next_bid=format_money(price + step),
        reserve_met=None if reserve is None else price >= reserve,
        my_max_bid=format_money(leader_max) if mine and leader_max is not None else None,
        buy_now_price=format_money(buy_now) if buy_now is not None else None,
        buy_now_open=row["status"] == AuctionStatus.active.value
        and buy_now_allowed(buy_now, reserve, price, row["bid_count"]),
        bought_now=bool(row["bought_now"]),
    )


def starts_in(status: str, start_time: datetime, now: datetime) -> int | msgspec.UnsetType:
    """``auction_status.starts_in``: whole seconds (rounded up) until a scheduled auction
    opens, 0 once it is due; absent for any other status (that message stays as it was)."""
    if status != AuctionStatus.scheduled.value:
        return msgspec.UNSET
    return max(0, math.ceil((start_time - now).total_seconds()))
