"""The state of a watched auction kept in the app process, so a warm connect reads no database.

A room loads ``auction_status`` once (with the seller's email: the shared part, for everyone) and
then applies each event it releases, in ``seq`` order, the same events its watchers receive.
What differs per watcher (the seller's email for signed-in watchers only, ``is_active`` and
``server_time`` at connect) is added by ``for_viewer``. ``auction_ended`` names the winner but not
its id, so it makes the state stale and the next connect loads it again; so does age
(``max_age``), which bounds how long a change that is not an event (an edited description, a new
rating) takes to reach new watchers.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import msgspec

from madeinpk.auctions.derived import starts_in
from madeinpk.auctions.live.messages import AuctionStatusData, BidInfo
from madeinpk.auctions.live.snapshot import LATEST_BIDS
from madeinpk.auctions.tables import AuctionStatus
from madeinpk.money import format_money, to_money
from madeinpk.timestamps import utc_now

_FIELDS = frozenset(AuctionStatusData.__struct_fields__)
_STEADY = frozenset({"auction_id", "seq", "time", "bidder", "amount", "auto"})
_decoder = msgspec.json.Decoder()


class RoomState:
    """One auction's shared ``auction_status`` and how old it is."""

    __slots__ = ("loaded_at", "max_age", "stale", "status")

    def __init__(self, status: AuctionStatusData, max_age: float) -> None:
        self.status = status
        self.max_age = max_age
        self.loaded_at = time.monotonic()
        self.stale = False

    @property
    def fresh(self) -> bool:
        return not self.stale and time.monotonic() - self.loaded_at < self.max_age

    def apply(self, seq: int, payload: str) -> None:
        """Bring the state to event ``seq`` (events it already includes change nothing)."""
        if seq <= self.status.seq or self.stale:
            return
        try:
            message = _decoder.decode(payload)
            kind, data = message["type"], message["data"]
        except (msgspec.DecodeError, KeyError, TypeError):
            self.stale = True
            return
        if kind == "new_bid":
            self.status = _after_bid(self.status, data, seq)
            # The reserve is secret: whether a new price meets it is the database's to say; so
            # is whether Buy It Now is still open after it.
            self.stale = self.status.reserve_met is False or self.status.buy_now_open
        elif kind == "auction_started":
            self.status = msgspec.structs.replace(
                self.status, status=AuctionStatus.active.value, seq=seq
            )
        elif kind == "auction_extended":
            self.status = msgspec.structs.replace(
                self.status, end_time=_time(data["end_time"]), seq=seq
            )
        else:  # auction_ended (the winner's id is not in it) or an event this code predates
            self.stale = True


def _after_bid(status: AuctionStatusData, data: dict[str, Any], seq: int) -> AuctionStatusData:
    """Every field the event shares with ``auction_status`` (price, count, derived fields such
    as ``min_next_bid``) is copied; the bid goes on top of ``latest_bids``."""
    bid = BidInfo(
        bidder=data["bidder"],
        amount=data["amount"],
        time=_time(data["time"]),
        auto=bool(data.get("auto", False)),
    )
    shared = {k: v for k, v in data.items() if k in _FIELDS and k not in _STEADY}
    if "min_next_bid" in data:  # the step in force is what the next bid must add
        step = to_money(data["min_next_bid"]) - to_money(data["current_price"])
        shared["min_increment"] = format_money(step)
    return msgspec.structs.replace(
        status,
        **shared,
        latest_bids=[bid, *status.latest_bids[: LATEST_BIDS - 1]],
        seq=seq,
    )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def for_viewer(status: AuctionStatusData, *, show_seller_email: bool) -> AuctionStatusData:
    """The shared state as one watcher sees it at this instant."""
    now = utc_now()
    seller = status.seller
    if not show_seller_email and seller.email is not None:
        seller = msgspec.structs.replace(seller, email=None)
    is_active = status.status == AuctionStatus.active.value and (
        status.start_time <= now < status.end_time
    )
    return msgspec.structs.replace(
        status,
        seller=seller,
        is_active=is_active,
        server_time=now,
        starts_in=starts_in(status.status, status.start_time, now),
        buy_now_open=status.buy_now_open and is_active,
    )
