"""Who a second-chance offer goes to (docs/auction-rules.md § Second-chance offer): the next
highest distinct bidder at their own highest bid, earlier bid first on a tie; a blocked bidder
is never chosen."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from madeinpk.orders.offer_choice import RunBid, next_bidder


def bids(*rows: tuple[int, str]) -> list[RunBid]:
    return [
        RunBid(bidder, Decimal(amount), index + 1) for index, (bidder, amount) in enumerate(rows)
    ]


def test_the_winner_is_skipped_and_the_runner_up_gets_its_own_highest_bid() -> None:
    run = bids((2, "2600"), (3, "2700"), (2, "2800"), (1, "2900"))
    assert next_bidder(run, {1}) == (2, Decimal("2800"))


def test_everyone_who_had_a_chance_is_skipped() -> None:
    run = bids((2, "2600"), (3, "2700"), (2, "2800"), (1, "2900"))
    assert next_bidder(run, {1, 2}) == (3, Decimal("2700"))
    assert next_bidder(run, {1, 2, 3}) is None
    assert next_bidder([], set()) is None


def test_a_tie_goes_to_who_bid_the_amount_first() -> None:
    run = bids((3, "2500"), (2, "2700"), (3, "2700"), (1, "3000"))
    assert next_bidder(run, {1}) == (2, Decimal("2700"))
    # Bidder 3 bid 2700 before bidder 2 did here, though 2 was first to bid at all.
    run = bids((2, "2500"), (3, "2700"), (2, "2700"), (1, "3000"))
    assert next_bidder(run, {1}) == (3, Decimal("2700"))


def test_a_blocked_bidder_is_skipped_for_the_next_one() -> None:
    run = bids((2, "2600"), (3, "2700"), (2, "2800"), (1, "2900"))
    assert next_bidder(run, {1}, blocked={2}) == (3, Decimal("2700"))
    # Blocked or already offered, nobody is left: the same None as an empty run.
    assert next_bidder(run, {1}, blocked={2, 3}) is None
    assert next_bidder(run, set(), blocked={1, 2, 3}) is None


run_bids = st.lists(
    st.tuples(st.integers(1, 6), st.integers(100, 500)), min_size=0, max_size=30
).map(lambda rows: [RunBid(b, Decimal(a), i + 1) for i, (b, a) in enumerate(rows)])


@given(run_bids, st.sets(st.integers(1, 6)))
def test_the_chosen_bid_is_the_highest_left_and_is_the_bidders_own(
    run: list[RunBid], excluded: set[int]
) -> None:
    chosen = next_bidder(run, excluded)
    left = [b for b in run if b.bidder not in excluded]
    if not left:
        assert chosen is None
        return
    assert chosen is not None
    bidder, amount = chosen
    assert bidder not in excluded
    assert amount == max(b.amount for b in left)
    assert amount == max(b.amount for b in left if b.bidder == bidder)
    first_at_top = min(b.bid_id for b in left if b.amount == amount)
    assert next(b.bidder for b in left if b.bid_id == first_at_top) == bidder


@given(run_bids, st.sets(st.integers(1, 6)), st.sets(st.integers(1, 6)))
def test_blocking_a_bidder_is_excluding_them(
    run: list[RunBid], excluded: set[int], blocked: set[int]
) -> None:
    chosen = next_bidder(run, excluded, blocked)
    assert chosen == next_bidder(run, excluded | blocked)
    assert chosen is None or chosen[0] not in blocked
    # Blocking someone other than the chosen bidder changes nothing.
    if chosen is not None:
        others = {b.bidder for b in run} - {chosen[0]}
        assert next_bidder(run, excluded, blocked | others) == chosen
