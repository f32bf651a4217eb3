"""Removing a bid as a pure function (docs/auction-rules.md § 10): who may, and what the auction
comes to without it (replayed through ``decide``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from madeinpk.auctions.bidding.refusals import Reason
from madeinpk.auctions.bidding.removal_rules import (
    Remover,
    StoredBid,
    check_removal,
    recount,
)
from madeinpk.auctions.bidding.rules import Attempt, AuctionState, Bidder, decide
from tests.unit.auctions.test_bid_rules import ALI, NOW, SARA, ZAIN, with_proxies

A, B, C = ALI, SARA, ZAIN


def play(
    state: AuctionState, attempts: list[Attempt], before: list[StoredBid] | None = None
) -> tuple[AuctionState, list[StoredBid]]:
    """Decide the attempts one by one and store the bids as the bid path writes them."""
    stored = list(before or [])
    for attempt in attempts:
        decision = decide(state, [attempt], NOW)
        if decision.raised_winning is not None:
            stored[-1] = replace(stored[-1], raised_max=decision.raised_winning)
        stored.extend(
            StoredBid(
                id=100 + r.seq,
                bidder=r.bidder,
                amount=r.amount,
                time=r.time,
                seq=r.seq,
                is_auto=r.is_auto,
                max_amount=r.max_amount,
                raised_max=r.raised_max,
            )
            for r in decision.bids
        )
        state = decision.after
    return state, stored


def at(amount: str, bidder: Bidder, maximum: str | None = None) -> Attempt:
    return Attempt(bidder, Decimal(amount), Decimal(maximum) if maximum else None)


def summary(state: AuctionState) -> tuple[Decimal, str | None, Decimal | None, int]:
    return (
        state.current_price,
        state.leader.username if state.leader else None,
        state.leader_max,
        state.bid_count,
    )


def test_removing_the_leaders_bid_takes_its_proxys_answers_along() -> None:
    # The worked example's first three steps: A 1100 (max 2000); B 1200 → A 1300 auto;
    # B 1400 (max 2500) → A 2000 auto, B 2100.
    state, stored = play(
        with_proxies(), [at("1100", A, "2000"), at("1200", B), at("1400", B, "2500")]
    )
    assert [(b.bidder.username, b.amount, b.is_auto) for b in stored] == [
        ("ali", Decimal("1100"), False),
        ("sara", Decimal("1200"), False),
        ("ali", Decimal("1300"), True),
        ("ali", Decimal("2000"), True),
        ("sara", Decimal("2100"), False),
    ]
    # Staff remove A's bid: A's proxy never existed, so its automatic bids go with it, and
    # B's second bid, made while B led, would only have raised B's maximum: it goes too.
    result = recount(state, stored, stored[0].id)
    assert result.removed[0] == stored[0].id
    assert sorted(result.removed[1:]) == [stored[2].id, stored[3].id, stored[4].id]
    assert summary(result.state) == (Decimal("1200"), "sara", Decimal("2500"), 1)
    assert result.winning == stored[1].id
    assert result.raises == {stored[1].id: Decimal("2500")}  # B's maximum, kept with B's bid
    # Remove B's 2100 instead: A leads again with its 2000 maximum at 1300.
    result = recount(state, stored, stored[4].id)
    assert result.removed == [stored[4].id, stored[3].id] and result.raises == {}
    assert summary(result.state) == (Decimal("1300"), "ali", Decimal("2000"), 3)
    assert result.winning == stored[2].id


def test_removing_the_only_bid_goes_back_to_the_start() -> None:
    state, stored = play(with_proxies(), [at("1500", A, "3000")])
    result = recount(state, stored, stored[0].id)
    assert summary(result.state) == (Decimal("1000.00"), None, None, 0)
    assert result.winning is None and result.state.seq == state.seq


def test_a_raised_maximum_is_replayed_where_it_was_made() -> None:
    state, stored = play(
        with_proxies(),
        [at("1100", A, "1500"), at("1200", C), at("1100", A, "5000"), at("1400", B, "4000")],
    )
    assert stored[2].raised_max == Decimal("5000")  # A's answer to C won when A raised
    assert summary(state) == (Decimal("4100"), "ali", Decimal("5000"), 5)
    result = recount(state, stored, stored[1].id)  # C's bid goes, A's raise stays
    assert result.removed == [stored[1].id, stored[2].id]
    assert summary(result.state) == (Decimal("4100"), "ali", Decimal("5000"), 3)
    assert result.winning == stored[4].id


def test_who_may_remove_and_when() -> None:
    state, stored = play(with_proxies(), [at("1100", A, "2000"), at("1200", B)])
    mine, auto = stored[0], stored[2]
    staff, owner, other = Remover(9, True), Remover(A.id, False), Remover(B.id, False)

    def check(bid: StoredBid | None, who: Remover, **options: object) -> Reason | None:
        kwargs = {"as_staff": False, "retract_seconds": 60, "now": NOW} | options
        refused = check_removal(state, bid, who, **kwargs)  # type: ignore[arg-type]
        return refused.reason if refused else None

    assert check(None, staff, as_staff=True) is Reason.unknown_bid
    assert check(replace(mine, removed=True), staff, as_staff=True) is Reason.already_removed
    assert check(auto, staff, as_staff=True) is Reason.automatic_bid
    ended = replace(state, status="ended")
    refused = check_removal(ended, mine, staff, as_staff=True, retract_seconds=0, now=NOW)
    assert refused is not None and refused.reason is Reason.not_active
    assert check(mine, staff, as_staff=True, retract_seconds=0) is None
    assert check(mine, other, as_staff=True) is Reason.staff_only
    assert check(mine, other) is Reason.not_your_bid
    assert check(mine, owner, retract_seconds=0) is Reason.retraction_off
    late = check_removal(
        state, mine, owner, as_staff=False, retract_seconds=60, now=NOW + timedelta(seconds=61)
    )
    assert late is not None and late.reason is Reason.retract_too_late
    assert late.message == "A bid can only be retracted within 60 seconds of placing it"
    closing = replace(state, end_time=NOW + timedelta(minutes=59))
    refused = check_removal(closing, mine, owner, as_staff=False, retract_seconds=60, now=NOW)
    assert refused is not None and refused.reason is Reason.last_hour
    roomy = replace(state, end_time=NOW + timedelta(hours=2))
    assert check_removal(roomy, mine, owner, as_staff=False, retract_seconds=60, now=NOW) is None


plans = st.lists(
    st.tuples(
        st.sampled_from([A, B, C]),
        st.integers(min_value=0, max_value=3),  # amount: min_next_bid + this many steps
        st.one_of(st.none(), st.integers(min_value=0, max_value=3000)),  # max above amount
    ),
    max_size=12,
)


def run(plan: list[tuple[Bidder, int, int | None]]) -> tuple[AuctionState, list[StoredBid]]:
    state, stored = with_proxies(min_increment=Decimal("10.00")), list[StoredBid]()
    for bidder, steps, extra in plan:
        leads = state.leader is not None and state.leader.id == bidder.id
        amount = state.current_price if leads and extra else state.min_next_bid() + 10 * steps
        attempt = Attempt(bidder, amount, None if extra is None else amount + extra)
        state, stored = play(state, [attempt], stored)
    return state, stored


@settings(max_examples=300, deadline=None)
@given(plan=plans, pick=st.integers(min_value=0, max_value=50))
def test_recount_properties(plan: list[tuple[Bidder, int, int | None]], pick: int) -> None:
    state, stored = run(plan)
    # Removing nothing (an id no bid has) reproduces the state.
    same = recount(state, stored, -1)
    assert summary(same.state) == summary(state)
    assert same.removed == [-1]
    assert same.winning == (stored[-1].id if stored else None)
    manual = [b for b in stored if not b.is_auto]
    if not manual:
        return
    target = manual[pick % len(manual)]
    result = recount(state, stored, target.id)
    after = result.state
    assert result.removed[0] == target.id
    assert after.current_price >= after.starting_price
    assert after.current_price <= state.current_price
    assert after.seq == state.seq and after.end_time == state.end_time
    assert after.bid_count == len(stored) - len(result.removed)
    kept = {b.id: b for b in stored if b.id not in result.removed}
    if after.leader is None:
        assert not kept and result.winning is None
    else:
        assert result.winning in kept  # never a removed bid
        assert kept[result.winning].bidder == after.leader
    assert len(set(result.removed)) == len(result.removed)
    # Removing again from the result is stable: a second recount with nothing removed agrees.
    flagged = [
        replace(b, removed=b.id in result.removed, raised_max=result.raises.get(b.id, b.raised_max))
        for b in stored
    ]
    again = recount(after, flagged, -1)
    assert summary(again.state) == summary(after)
