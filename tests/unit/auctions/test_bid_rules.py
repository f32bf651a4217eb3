"""The bidding rules as a pure function: no server, no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Attempt,
    AuctionState,
    Bidder,
    Decision,
    NewBidEvent,
    Outcome,
    Prior,
    decide,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SELLER = Bidder(1, "seller", "seller@example.pk")
ALI = Bidder(2, "ali", "ali@example.pk")
SARA = Bidder(3, "sara", "sara@example.pk")
ZAIN = Bidder(4, "zain", "zain@example.pk")


def auction(**changes: object) -> AuctionState:
    state = AuctionState(
        auction_id=7,
        product_name="Handwoven Pashmina Shawl",
        seller_id=SELLER.id,
        status="active",
        start_time=NOW - timedelta(hours=1),
        end_time=NOW + timedelta(hours=1),
        starting_price=Decimal("2500.00"),
        current_price=Decimal("2500.00"),
        bid_count=0,
        seq=0,
        leader=None,
        last_bid_time=None,
    )
    return replace(state, **changes)  # type: ignore[arg-type]


def bid(bidder: Bidder, amount: str, **extra: object) -> Attempt:
    return Attempt(bidder, Decimal(amount), **extra)  # type: ignore[arg-type]


def test_a_first_bid_above_the_start_is_recorded_and_broadcast() -> None:
    decision = decide(auction(), [bid(ALI, "3000")], NOW)
    [outcome] = decision.outcomes
    assert outcome == Accepted(Decimal("3000"), Decimal("3000"), True, 1, NOW, bid_seq=1)
    [recorded] = decision.bids
    assert (recorded.bidder, recorded.amount, recorded.time, recorded.seq) == (
        ALI,
        Decimal("3000"),
        NOW,
        1,
    )
    [event] = decision.events
    assert isinstance(event, NewBidEvent)
    assert (event.seq, event.bidder, event.total_bids, event.min_next_bid) == (
        1,
        "ali",
        1,
        Decimal("3000.01"),
    )
    assert decision.after.current_price == Decimal("3000")
    assert decision.after.leader == ALI and decision.after.seq == 1
    assert decision.outbid == []  # nobody led before


def test_refusals_use_the_customers_words_in_the_customers_order() -> None:
    ended = auction(status="ended")
    assert decide(ended, [bid(ALI, "1", blocked=True)], NOW).outcomes == [
        Refused(Reason.blocked, "Your account is blocked")
    ]
    assert decide(ended, [bid(SELLER, "1")], NOW).outcomes == [
        Refused(Reason.not_active, "Auction is not active")
    ]
    assert decide(auction(), [bid(SELLER, "1")], NOW).outcomes == [
        Refused(Reason.own_auction, "You cannot bid on your own auction")
    ]
    assert decide(auction(), [bid(ALI, "2500")], NOW).outcomes == [
        Refused(Reason.too_low, "Bid must be higher than current price of 2500.00")
    ]


def test_the_auction_is_open_only_between_start_and_end() -> None:
    not_started = auction(start_time=NOW + timedelta(seconds=1))
    at_the_end = auction(end_time=NOW)
    for state in (not_started, at_the_end, auction(status="cancelled")):
        [outcome] = decide(state, [bid(ALI, "9000")], NOW).outcomes
        assert outcome == refusal(Reason.not_active)
    assert isinstance(
        decide(auction(end_time=NOW + timedelta(microseconds=1)), [bid(ALI, "9000")], NOW).outcomes[
            0
        ],
        Accepted,
    )


def test_a_batch_is_decided_in_arrival_order_and_tells_each_loser() -> None:
    state = auction(leader=ZAIN, current_price=Decimal("2600"), bid_count=1, seq=1)
    decision = decide(
        state,
        [
            bid(ALI, "2700"),
            bid(SARA, "2650"),
            bid(SARA, "2800"),
            bid(ALI, "2800"),
            bid(ALI, "2900"),
        ],
        NOW,
    )
    kinds = [type(o).__name__ for o in decision.outcomes]
    assert kinds == ["Accepted", "Refused", "Accepted", "Refused", "Accepted"]
    assert decision.outcomes[1] == refusal(Reason.too_low, Decimal("2700"))
    assert decision.outcomes[3] == refusal(Reason.too_low, Decimal("2800"))
    assert [(b.bidder.username, b.amount, b.seq) for b in decision.bids] == [
        ("ali", Decimal("2700"), 2),
        ("sara", Decimal("2800"), 3),
        ("ali", Decimal("2900"), 4),
    ]
    assert [e.seq for e in decision.events] == [2, 3, 4]
    assert [(o.bidder.username, o.price, o.seq) for o in decision.outbid] == [
        ("zain", Decimal("2700"), 2),
        ("ali", Decimal("2800"), 3),
        ("sara", Decimal("2900"), 4),
    ]
    assert decision.after.bid_count == 4 and decision.after.leader == ALI


def test_outbidding_yourself_tells_nobody() -> None:
    decision = decide(auction(leader=ALI, current_price=Decimal("2600")), [bid(ALI, "2700")], NOW)
    assert isinstance(decision.outcomes[0], Accepted) and decision.outbid == []


def test_bid_times_never_go_back() -> None:
    """The database clock may read earlier than the last bid's stamp (it was read before the lock
    was granted, or another process stamped it): the new bid takes the later time."""
    last = NOW + timedelta(milliseconds=3)
    decision = decide(auction(last_bid_time=last), [bid(ALI, "3000"), bid(SARA, "3100")], NOW)
    assert [b.time for b in decision.bids] == [last, last]
    later = decide(auction(last_bid_time=NOW - timedelta(seconds=1)), [bid(ALI, "3000")], NOW)
    assert later.bids[0].time == NOW


def test_a_repeated_key_gets_the_first_outcome_and_changes_nothing() -> None:
    first = Accepted(Decimal("3000"), Decimal("3000"), True, 1, NOW, bid_seq=1, bid_id=41)
    prior = Prior(7, Decimal("3000"), None, first)
    decision = decide(auction(), [bid(ALI, "3000", key="k1", prior=prior)], NOW)
    assert decision.outcomes == [first] and not decision.changed
    other_amount = decide(auction(), [bid(ALI, "3100", key="k1", prior=prior)], NOW)
    assert other_amount.outcomes == [refusal(Reason.idempotency_conflict)]
    other_auction = decide(auction(auction_id=8), [bid(ALI, "3000", key="k1", prior=prior)], NOW)
    assert other_auction.outcomes == [refusal(Reason.idempotency_conflict)]
    assert not other_amount.changed and not other_auction.changed


def test_a_key_repeated_inside_one_batch_is_decided_once() -> None:
    decision = decide(
        auction(),
        [
            bid(ALI, "3000", key="k"),
            bid(ALI, "3000", key="k"),
            bid(ALI, "3100", key="k"),
            bid(SARA, "3000", key="k"),  # keys belong to their bidder
        ],
        NOW,
    )
    first, again, conflict, other = decision.outcomes
    assert isinstance(first, Accepted) and again == first
    assert conflict == refusal(Reason.idempotency_conflict)
    assert other == refusal(Reason.too_low, Decimal("3000"))
    assert len(decision.bids) == 1


def test_a_refused_key_is_refused_again() -> None:
    decision = decide(auction(), [bid(ALI, "100", key="k"), bid(ALI, "100", key="k")], NOW)
    assert decision.outcomes == [refusal(Reason.too_low, Decimal("2500.00"))] * 2


# --- properties ---------------------------------------------------------------------------------

BIDDERS = [SELLER, ALI, SARA, ZAIN]
amounts = st.integers(min_value=1, max_value=400_000).map(lambda cents: Decimal(cents) / 100)
attempts = st.builds(
    Attempt,
    bidder=st.sampled_from(BIDDERS),
    amount=amounts,
    blocked=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(attempts, max_size=12), max_size=8))
def test_properties_of_any_sequence_of_batches(batches: list[list[Attempt]]) -> None:
    state = auction()
    accepted: list[Decimal] = []
    last_winner: Bidder | None = None
    for batch in batches:
        decision = decide(state, batch, NOW)
        assert len(decision.outcomes) == len(batch)
        for attempt, outcome in zip(batch, decision.outcomes, strict=True):
            if isinstance(outcome, Accepted):
                assert outcome.amount == attempt.amount and not attempt.blocked
                assert attempt.bidder != SELLER
                accepted.append(outcome.amount)
                last_winner = attempt.bidder
        if not decision.changed:
            assert decision.after == state  # refusals leave the state unchanged
        assert [e.seq for e in decision.events] == list(
            range(state.seq + 1, decision.after.seq + 1)
        )
        assert len(decision.bids) == len(decision.events) == decision.after.seq - state.seq
        state = decision.after
    # amounts strictly increase, the price is the highest accepted, one leader: the last winner
    assert accepted == sorted(set(accepted))
    assert state.current_price == (accepted[-1] if accepted else Decimal("2500.00"))
    assert state.leader == last_winner
    assert state.bid_count == state.seq == len(accepted)


# --- increments, proxy bidding, soft close (docs/auction-rules.md §§ 5-7) -----------------------

A = ALI
B = SARA


def with_proxies(**changes: object) -> AuctionState:
    start = Decimal("1000.00")
    return auction(
        **{
            "starting_price": start,
            "current_price": start,
            "min_increment": Decimal("100.00"),
            **changes,
        }
    )


def plain(decision: Decision) -> list[tuple[str, Decimal, bool]]:
    return [(b.bidder.username, b.amount, b.is_auto) for b in decision.bids]


def test_the_worked_example_step_by_step() -> None:
    state = with_proxies()
    steps = [
        (bid(A, "1100", max_amount=Decimal("2000")), [("ali", 1100, False)], "1100", A, []),
        (bid(B, "1200"), [("sara", 1200, False), ("ali", 1300, True)], "1300", A, ["sara"]),
        (
            bid(B, "1400", max_amount=Decimal("2500")),
            [("ali", 2000, True), ("sara", 2100, False)],
            "2100",
            B,
            ["ali"],
        ),
        (
            bid(A, "2200", max_amount=Decimal("2500")),
            [("ali", 2500, False), ("sara", 2500, True)],
            "2500",
            B,
            ["ali"],
        ),
        (bid(B, "2600", max_amount=Decimal("3000")), [], "2500", B, []),
    ]
    for attempt, recorded, price, leader, told in steps:
        decision = decide(state, [attempt], NOW)
        assert plain(decision) == [(n, Decimal(a), auto) for n, a, auto in recorded]
        assert decision.after.current_price == Decimal(price)
        assert decision.after.leader == leader
        assert [o.bidder.username for o in decision.outbid] == told
        [outcome] = decision.outcomes
        assert isinstance(outcome, Accepted)
        state = decision.after
    assert state.leader_max == Decimal("3000")
    assert isinstance(outcome, Accepted)
    assert outcome.max_only and outcome.amount == outcome.current_price == Decimal("2500")
    assert state.seq == state.bid_count == 7  # the maximum-only update broadcast nothing


def test_the_bidder_who_is_outbid_at_once_hears_it_in_the_answer() -> None:
    state = decide(with_proxies(), [bid(A, "1100", max_amount=Decimal("2000"))], NOW).after
    [outcome] = decide(state, [bid(B, "1200")], NOW).outcomes
    assert outcome == Accepted(
        amount=Decimal("1200"),
        current_price=Decimal("1300"),
        is_leading=False,
        seq=3,
        time=NOW,
        bid_seq=2,
    )


def test_increments_by_auction_and_by_price_band() -> None:
    fixed = with_proxies()
    assert decide(fixed, [bid(A, "1050")], NOW).outcomes == [
        refusal(Reason.below_increment, Decimal("1100.00"))
    ]
    assert (
        refusal(Reason.below_increment, Decimal("1100")).message == "Bid must be at least 1100.00"
    )
    assert decide(fixed, [bid(A, "1000")], NOW).outcomes == [
        refusal(Reason.too_low, Decimal("1000.00"))
    ]
    table = ((Decimal(0), Decimal(10)), (Decimal(1000), Decimal(50)), (Decimal(5000), Decimal(100)))
    banded = auction(current_price=Decimal("990"), increments=table)
    assert banded.min_next_bid() == Decimal("1000")
    after = decide(banded, [bid(A, "1000")], NOW).after
    assert after.min_next_bid() == Decimal("1050")  # the band of the new price
    assert decide(after, [bid(B, "1040")], NOW).outcomes == [
        refusal(Reason.below_increment, Decimal("1050"))
    ]
    assert auction().min_next_bid() == Decimal("2500.01")  # no options: the customer's rule


def test_a_maximum_below_the_amount_is_refused() -> None:
    assert decide(with_proxies(), [bid(A, "1200", max_amount=Decimal("1100"))], NOW).outcomes == [
        refusal(Reason.invalid_max_amount)
    ]


def test_the_amount_checks_keep_the_specs_order() -> None:
    """§ 3: too low, then below the increment, then a maximum below the amount. Each bid below
    also has a maximum under its amount: the earlier check still answers (price 1000.00, step
    100.00)."""
    state = with_proxies()

    def outcome(amount: str, maximum: str) -> Outcome:
        [decided] = decide(state, [bid(A, amount, max_amount=Decimal(maximum))], NOW).outcomes
        return decided

    # 1. At or below the price.
    assert outcome("900", "800") == refusal(Reason.too_low, Decimal("1000.00"))
    assert outcome("1000", "999.99") == refusal(Reason.too_low, Decimal("1000.00"))
    # 2. Above the price, below the price plus the step.
    assert outcome("1050", "1000") == refusal(Reason.below_increment, Decimal("1100.00"))
    assert outcome("1099.99", "1") == refusal(Reason.below_increment, Decimal("1100.00"))
    # 3. A good amount, a maximum under it.
    assert outcome("1100", "1099.99") == refusal(Reason.invalid_max_amount)
    # And with the maximum at the amount, the bid stands.
    assert isinstance(outcome("1100", "1100"), Accepted)


def test_a_leaders_maximum_only_update_skips_the_price_checks_only() -> None:
    """§ 3 "X is L": checks 1-2 do not apply, so an amount at or below the price raises the
    maximum (no bid, no event, nothing broadcast); check 3 still does."""
    state = decide(with_proxies(), [bid(A, "1100")], NOW).after
    for amount in ("1", "1000", "1100"):
        decision = decide(state, [bid(A, amount, max_amount=Decimal("1500"))], NOW)
        assert decision.outcomes == [
            Accepted(
                amount=Decimal("1100"),
                current_price=Decimal("1100"),
                is_leading=True,
                seq=1,
                time=NOW,
                max_amount=Decimal("1500"),
                max_only=True,
            )
        ]
        assert (decision.bids, decision.events, decision.outbid) == ([], [], [])
        assert decision.after == replace(state, leader_max=Decimal("1500"))
    for amount, maximum in (("900", "800"), ("1200", "1150")):
        decision = decide(state, [bid(A, amount, max_amount=Decimal(maximum))], NOW)
        assert decision.outcomes == [refusal(Reason.invalid_max_amount)]
        assert not decision.changed


def test_soft_close_extends_the_end_after_a_late_bid() -> None:
    late = NOW + timedelta(seconds=20)
    state = auction(end_time=late, soft_close_seconds=60)
    decision = decide(state, [bid(A, "3000"), bid(B, "3100")], NOW)
    assert decision.after.end_time == NOW + timedelta(seconds=60)
    kinds = [type(e).__name__ for e in decision.events]
    assert kinds == ["NewBidEvent", "ExtendedEvent", "NewBidEvent"]
    assert [e.seq for e in decision.events] == [1, 2, 3]
    assert decision.extended
    early = decide(auction(soft_close_seconds=60), [bid(A, "3000")], NOW)
    assert not early.extended and len(early.events) == 1
    after_the_old_end = decide(decision.after, [bid(A, "3200")], late + timedelta(seconds=5))
    assert isinstance(after_the_old_end.outcomes[0], Accepted)  # the end in force counts


@settings(max_examples=300, deadline=None)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from([A, B, ZAIN]),
            st.integers(min_value=0, max_value=3),  # amount: min_next_bid + this many steps
            st.one_of(st.none(), st.integers(min_value=0, max_value=3000)),  # max above amount
        ),
        max_size=15,
    )
)
def test_proxy_resolution_properties(plan: list[tuple[Bidder, int, int | None]]) -> None:
    state = with_proxies(min_increment=Decimal("10.00"))
    maxima: dict[int, tuple[Decimal, int]] = {}  # bidder -> (effective maximum, when set)
    contested = maxima  # the maxima as they were when bids were last recorded
    at_min_next = True
    for when, (bidder, steps, extra) in enumerate(plan):
        amount = state.min_next_bid() + 10 * steps
        at_min_next &= steps == 0 and extra is not None
        ceiling = None if extra is None else amount + extra
        decision = decide(state, [Attempt(bidder, amount, ceiling)], NOW)
        if not isinstance(decision.outcomes[0], Accepted):
            continue
        effective = ceiling or amount
        if effective > maxima.get(bidder.id, (Decimal(0), 0))[0]:
            maxima[bidder.id] = (effective, when)
        amounts = [b.amount for b in decision.bids]
        assert amounts == sorted(amounts)  # never decrease in event order
        state = decision.after
        ranked = sorted(maxima.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        highest = ranked[0][1][0]
        assert state.current_price <= highest
        if len(ranked) > 1:
            assert state.current_price >= ranked[1][1][0]
        assert state.leader is not None and state.leader.id == ranked[0][0]
        if decision.bids:
            contested = dict(maxima)
    # A leader who raises its own maximum afterwards records no bid and moves no price.
    if at_min_next and len(contested) > 1:
        first, second = sorted((m for m, _ in contested.values()), reverse=True)[:2]
        assert state.current_price == min(first, second + Decimal("10.00"))
