"""Removing a bid, as the rule core sees it: who may remove which bid and when, and what the auction
comes to without it. Pure, like ``rules``, whose ``decide`` it replays the remaining bids through
(docs/auction-rules.md § 10).

The auction without the removed bid is the auction its remaining bidders would have made: every
remaining bid placed by a person is decided again, in its order, from the starting price, with
the amount it was recorded at and the maximum it carried (and a maximum its bidder raised while
it won, right after it). Automatic bids are not replayed: the replay places its own, and a stored
automatic bid it does not place again (one that answered the removed bid) is removed with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Attempt,
    AuctionState,
    AuctionStatus,
    Bidder,
    decide,
)

# Bidders never retract in an auction's last hour (staff may).
RETRACT_CLOSED_BEFORE_END = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class StoredBid:
    """A bid of the auction as stored (``bid`` row), in ``seq`` order among its siblings."""

    id: int
    bidder: Bidder
    amount: Decimal
    time: datetime
    seq: int
    is_auto: bool = False
    max_amount: Decimal | None = None
    raised_max: Decimal | None = None
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Remover:
    id: int
    is_staff: bool


def check_removal(
    state: AuctionState,
    bid: StoredBid | None,
    remover: Remover,
    *,
    as_staff: bool,
    retract_seconds: int,
    now: datetime,
) -> Refused | None:
    """Why this removal may not happen, in this order; None when it may. ``as_staff`` is a
    staff member's removal (any bid); otherwise it is a bidder's retraction of its own bid."""
    if bid is None:
        return refusal(Reason.unknown_bid)
    if bid.removed:
        return refusal(Reason.already_removed)
    if bid.is_auto:
        return refusal(Reason.automatic_bid)
    if not state.is_open(now):
        return refusal(Reason.not_active)
    if as_staff:
        return None if remover.is_staff else refusal(Reason.staff_only)
    if bid.bidder.id != remover.id:
        return refusal(Reason.not_your_bid)
    if retract_seconds <= 0:
        return refusal(Reason.retraction_off)
    if now - bid.time > timedelta(seconds=retract_seconds):
        return retract_refusal(Reason.retract_too_late, retract_seconds)
    if state.end_time - now < RETRACT_CLOSED_BEFORE_END:
        return refusal(Reason.last_hour)
    return None


def retract_refusal(reason: Reason, seconds: int) -> Refused:
    refused = refusal(reason)
    return Refused(reason, refused.message.format(seconds=seconds))


@dataclass(frozen=True, slots=True)
class Recount:
    """The auction without the removed bid: its new state, the bids now flagged (the removed one
    first, then those that go with it), the bid that wins (None: no bids left), and the raised
    maxima to keep with the bids that won when they counted (``raised_max``), so that the next
    recount, which sees only the bids left, finds them."""

    state: AuctionState
    removed: list[int]
    winning: int | None
    raises: dict[int, Decimal]


def recount(state: AuctionState, bids: Sequence[StoredBid], remove: int) -> Recount:
    """``state`` without bid ``remove`` (of ``bids``, the auction's bids in ``seq`` order, the
    removed ones flagged). The state keeps what a removal does not undo: its ``seq``, end time
    (soft-close extensions stay) and options; price, leader, maximum and count are recomputed."""
    book = replace(
        state,
        status=AuctionStatus.active.value,
        end_time=datetime.max.replace(tzinfo=state.start_time.tzinfo) - timedelta(days=1),
        soft_close_seconds=0,
        current_price=state.starting_price,
        bid_count=0,
        seq=0,
        leader=None,
        leader_max=None,
        last_bid_time=None,
    )
    kept = sorted((b for b in bids if not b.removed and b.id != remove), key=lambda b: b.seq)
    people = [b for b in kept if not b.is_auto]
    # The stored automatic bids around each bid placed by a person (gap i: before people[i]);
    # the replay's are paired with them by bidder and amount, gap by gap.
    gaps: list[list[StoredBid]] = [[] for _ in range(len(people) + 1)]
    gap = 0
    for bid in kept:
        if bid.is_auto:
            gaps[gap].append(bid)
        else:
            gap += 1
    gone = [remove]
    order: list[tuple[int, int | None]] = []  # the replay's bids: (bidder, stored id or None)
    raises: dict[int, Decimal] = {}

    def pair(autos: list[tuple[int, Decimal]], stored: list[StoredBid]) -> None:
        for bidder, amount in autos:
            twin = next((a for a in stored if a.bidder.id == bidder and a.amount == amount), None)
            if twin is not None:
                stored.remove(twin)
            order.append((bidder, twin.id if twin else None))

    for i, bid in enumerate(people):
        decision = decide(book, [Attempt(bid.bidder, bid.amount, bid.max_amount)], state.start_time)
        outcome = decision.outcomes[0]
        own = outcome.bid_seq if isinstance(outcome, Accepted) and outcome.bid_seq else None
        autos = [(r.bidder.id, r.amount, r.seq) for r in decision.bids if r.is_auto]
        pair([(b, a) for b, a, seq in autos if own is not None and seq < own], gaps[i])
        gone.extend(a.id for a in gaps[i])  # answers to bids no longer there
        if own is None:  # now only its bidder's raised maximum, or refused: it goes too
            gone.append(bid.id)
        else:
            order.append((bid.bidder.id, bid.id))
        after = list(gaps[i + 1])  # before pairing takes the replayed ones out
        pair([(b, a) for b, a, seq in autos if own is not None and seq > own], gaps[i + 1])
        was = decision.after.leader_max
        book = decision.after
        for raised in [bid, *after]:  # raised while it won: right after this decision
            if raised.raised_max and book.leader and book.leader.id == raised.bidder.id:
                book = replace(book, leader_max=max(book.standing_max(), raised.raised_max))
        moved = book.leader_max != was or (own is None and isinstance(outcome, Accepted))
        winning = _winning(order, book)
        if moved and winning is not None and book.leader_max is not None:
            raises[winning] = book.leader_max
    gone.extend(a.id for a in gaps[len(people)])
    return Recount(
        state=replace(
            state,
            current_price=book.current_price,
            leader=book.leader,
            leader_max=book.leader_max,
            bid_count=len(kept) - (len(gone) - 1),
        ),
        removed=gone,
        winning=_winning(order, book),
        raises={k: v for k, v in raises.items() if k not in gone},
    )


def _winning(order: list[tuple[int, int | None]], book: AuctionState) -> int | None:
    """The stored bid the leader leads with: its latest of the replay's bids on record."""
    leader = book.leader.id if book.leader else None
    return next((bid for bidder, bid in reversed(order) if bidder == leader and bid), None)
