"""Scheduled starts in the pure parts: the refusal before the start, when an auction is due to
open, ``starts_in``, the ``auction_started`` frame and a watched room applying it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.auctions.bidding.rules import Accepted, AuctionStatus, decide
from madeinpk.auctions.derived import starts_in
from madeinpk.auctions.events import auction_started_payload
from madeinpk.auctions.live.asyncapi import BROADCASTS, SERVER_MESSAGES
from madeinpk.auctions.live.room_state import RoomState, for_viewer
from tests.unit.auctions.test_bid_rules import ALI, NOW, SELLER, auction, bid
from tests.unit.auctions.test_live_hub import status_at

AHEAD = timedelta(minutes=5)


def test_a_bid_before_the_start_is_refused_not_started_in_the_customers_order() -> None:
    scheduled = auction(status="scheduled", start_time=NOW + AHEAD, end_time=NOW + 2 * AHEAD)
    [outcome] = decide(scheduled, [bid(ALI, "9000")], NOW).outcomes
    assert outcome == refusal(Reason.not_started)
    assert isinstance(outcome, Refused) and outcome.message == "Auction has not started yet"
    # Blocked first, as before; the seller learns it has not started before "own auction".
    [blocked] = decide(scheduled, [bid(ALI, "9000", blocked=True)], NOW).outcomes
    assert blocked == refusal(Reason.blocked)
    [own] = decide(scheduled, [bid(SELLER, "9000")], NOW).outcomes
    assert own == refusal(Reason.not_started)
    decision = decide(scheduled, [bid(ALI, "9000")], NOW)
    assert not decision.changed and decision.events == []


def test_an_active_auction_with_its_start_ahead_keeps_the_customers_refusal() -> None:
    waiting = auction(start_time=NOW + AHEAD)
    [outcome] = decide(waiting, [bid(ALI, "9000")], NOW).outcomes
    assert outcome == refusal(Reason.not_active)


def test_due_to_start_only_when_scheduled_and_its_time_has_come() -> None:
    assert auction(status="scheduled", start_time=NOW).due_to_start(NOW)
    assert not auction(status="scheduled", start_time=NOW + AHEAD).due_to_start(NOW)
    for status in ("active", "ended", "cancelled", "completed"):
        assert not auction(status=status, start_time=NOW - AHEAD).due_to_start(NOW)


@given(
    offset=st.integers(min_value=-7200, max_value=7200),
    status=st.sampled_from([s.value for s in AuctionStatus]),
)
def test_a_bid_is_judged_by_status_and_start(offset: int, status: str) -> None:
    """Whatever the status and the start: a scheduled auction before its start says
    ``not_started``; only an active, started, unended one records the bid; no decision ever
    opens an auction by itself (opening is the start transaction's, under the row lock)."""
    start = NOW + timedelta(seconds=offset)
    state = auction(status=status, start_time=start, end_time=max(start, NOW) + AHEAD)
    decision = decide(state, [bid(ALI, "9000")], NOW)
    [outcome] = decision.outcomes
    if status == "scheduled" and start > NOW:
        assert outcome == refusal(Reason.not_started)
    elif status == "active" and start <= NOW:
        assert isinstance(outcome, Accepted)
    else:
        assert outcome == refusal(Reason.not_active)
    assert decision.after.status == status


def test_starts_in_is_whole_seconds_rounded_up_and_only_while_scheduled() -> None:
    start = NOW + timedelta(seconds=90, milliseconds=1)
    assert starts_in("scheduled", start, NOW) == 91
    assert starts_in("scheduled", NOW - AHEAD, NOW) == 0
    assert starts_in("active", start, NOW) is msgspec.UNSET


def test_the_auction_started_frame() -> None:
    start, end = datetime(2026, 12, 5, 10, 0, tzinfo=UTC), datetime(2026, 12, 6, 10, tzinfo=UTC)
    frame = msgspec.json.decode(auction_started_payload(7, 3, start, end))
    assert frame.pop("server_time").endswith("Z")
    assert frame == {
        "type": "auction_started",
        "seq": 3,
        "data": {
            "auction_id": 7,
            "seq": 3,
            "start_time": "2026-12-05T10:00:00Z",
            "end_time": "2026-12-06T10:00:00Z",
        },
    }


def test_asyncapi_lists_auction_started_as_a_broadcast() -> None:
    assert "auction_started" in BROADCASTS
    assert "auction_started" in {m.name for m in SERVER_MESSAGES}


def test_a_watched_room_opens_on_auction_started() -> None:
    now = datetime.now(UTC)
    data = msgspec.structs.replace(
        status_at(0), status="scheduled", start_time=now + AHEAD, end_time=now + 2 * AHEAD, seq=0
    )
    room = RoomState(data, max_age=60)
    seen = for_viewer(room.status, show_seller_email=True)
    assert seen.status == "scheduled" and not seen.is_active
    assert isinstance(seen.starts_in, int) and 299 <= seen.starts_in <= 300
    encoded = msgspec.json.decode(msgspec.json.encode(seen))
    assert "starts_in" in encoded
    payload = auction_started_payload(data.auction_id, 1, now, data.end_time).decode()
    room.apply(1, payload)
    assert room.status.status == "active" and room.status.seq == 1 and room.fresh
    opened = for_viewer(room.status, show_seller_email=True)
    assert "starts_in" not in msgspec.json.decode(msgspec.json.encode(opened))
    room.apply(1, payload)  # already in: nothing changes
    assert room.status.seq == 1
    assert Decimal(opened.current_price) == Decimal(data.current_price)
