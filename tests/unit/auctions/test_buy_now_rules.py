"""Buy It Now in the rule core: a pure attempt kind, decided in order with the bids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from madeinpk.auctions.bidding.buy_now import Bought, Purchase, buy_now_open
from madeinpk.auctions.bidding.refusals import BUY_OWN_AUCTION, Reason, Refused, refusal
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Attempt,
    AuctionState,
    Bidder,
    Prior,
    decide,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SELLER = Bidder(1, "seller", "seller@example.pk")
ALI = Bidder(2, "ali", "ali@example.pk")
SARA = Bidder(3, "sara", "sara@example.pk")
BUY_NOW = Decimal("5000.00")


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
        buy_now_price=BUY_NOW,
    )
    return replace(state, **changes)  # type: ignore[arg-type]


def buy(bidder: Bidder, **extra: object) -> Attempt:
    return Attempt(bidder, Decimal(0), buy_now=True, **extra)  # type: ignore[arg-type]


def bid(bidder: Bidder, amount: str) -> Attempt:
    return Attempt(bidder, Decimal(amount))


def test_buying_ends_the_auction_at_the_buy_now_price_for_the_buyer() -> None:
    decision = decide(auction(), [buy(ALI)], NOW)
    assert decision.outcomes == [Bought(BUY_NOW, 1, NOW)]
    assert decision.purchase == Purchase(ALI, BUY_NOW, 1, NOW)
    after = decision.after
    assert (after.status, after.current_price, after.leader, after.seq) == (
        "ended",
        BUY_NOW,
        ALI,
        1,
    )
    assert after.end_time == NOW and after.leader_max is None
    assert decision.bids == [] and decision.events == [] and decision.outbid == []
    assert decision.changed


def test_bids_before_a_purchase_are_recorded_and_everything_after_is_not_active() -> None:
    decision = decide(auction(), [bid(SARA, "3000"), buy(ALI), bid(SARA, "9000"), buy(SARA)], NOW)
    first, bought, late_bid, late_buy = decision.outcomes
    assert isinstance(first, Accepted) and first.seq == 1
    assert bought == Bought(BUY_NOW, 2, NOW)
    assert late_bid == late_buy == refusal(Reason.not_active)
    assert [b.amount for b in decision.bids] == [Decimal("3000")]
    assert decision.purchase == Purchase(ALI, BUY_NOW, 2, NOW)
    assert decision.after.seq == 2 and decision.after.leader == ALI


def test_refusals_in_the_bids_order_then_buy_nows_own() -> None:
    def refused(state: AuctionState, attempt: Attempt) -> object:
        [outcome] = decide(state, [attempt], NOW).outcomes
        return outcome

    ended = auction(status="ended")
    assert refused(ended, buy(ALI, blocked=True)) == refusal(Reason.blocked)
    assert refused(ended, buy(ALI)) == refusal(Reason.not_active)
    assert refused(auction(end_time=NOW), buy(ALI)) == refusal(Reason.not_active)
    assert refused(auction(start_time=NOW + timedelta(1)), buy(ALI)) == refusal(Reason.not_active)
    assert refused(auction(), buy(SELLER)) == Refused(Reason.own_auction, BUY_OWN_AUCTION)
    none = refused(auction(buy_now_price=None), buy(ALI))
    assert none == Refused(Reason.no_buy_now, "This auction has no Buy It Now price")
    closed = refused(auction(current_price=BUY_NOW, bid_count=3), buy(ALI))
    assert closed == Refused(
        Reason.buy_now_closed, "Buy It Now is no longer available on this auction"
    )


def test_with_a_reserve_it_stays_until_a_bid_reaches_the_reserve() -> None:
    reserve = Decimal("4000.00")
    fresh = auction(reserve_price=reserve, starting_price=reserve, current_price=reserve)
    assert buy_now_open(fresh)  # no bid yet, though the start equals the reserve
    below = auction(reserve_price=reserve, current_price=Decimal("3999.99"), bid_count=2)
    assert buy_now_open(below)
    reached = auction(reserve_price=reserve, current_price=reserve, bid_count=2)
    assert not buy_now_open(reached)
    [outcome] = decide(reached, [buy(ALI)], NOW).outcomes
    assert isinstance(outcome, Refused) and outcome.reason is Reason.buy_now_closed
    # a bid in the same batch that reaches the reserve closes it for the buy-now after it
    decision = decide(auction(reserve_price=reserve), [bid(SARA, "4000"), buy(ALI)], NOW)
    assert isinstance(decision.outcomes[1], Refused)
    assert decision.purchase is None and decision.after.status == "active"


def test_a_keyed_purchase_repeated_gets_the_first_outcome() -> None:
    first = decide(auction(), [buy(ALI, key="k1"), buy(ALI, key="k1")], NOW)
    assert first.outcomes == [Bought(BUY_NOW, 1, NOW)] * 2
    prior = Prior(7, Decimal(0), None, first.outcomes[0])
    again = decide(first.after, [buy(ALI, key="k1", prior=prior)], NOW)
    assert again.outcomes == [Bought(BUY_NOW, 1, NOW)] and not again.changed
    # the same key for a bid is a different request
    keyed_bid = Attempt(ALI, Decimal("3000"), key="k2")
    conflict = decide(auction(), [buy(ALI, key="k2"), keyed_bid], NOW)
    assert conflict.outcomes[1] == refusal(Reason.idempotency_conflict)


# --- properties ---------------------------------------------------------------------------------

BIDDERS = [SELLER, ALI, SARA]
amounts = st.integers(min_value=250_000, max_value=700_000).map(lambda c: Decimal(c) / 100)
attempts = st.one_of(
    st.builds(Attempt, bidder=st.sampled_from(BIDDERS), amount=amounts, blocked=st.booleans()),
    st.builds(
        Attempt,
        bidder=st.sampled_from(BIDDERS),
        amount=st.just(Decimal(0)),
        blocked=st.booleans(),
        buy_now=st.just(True),
    ),
)
options = st.fixed_dictionaries(
    {
        "reserve_price": st.one_of(st.none(), st.sampled_from([Decimal("2500"), Decimal("4000")])),
        "buy_now_price": st.one_of(st.none(), st.sampled_from([Decimal("4000"), BUY_NOW])),
    }
)


def allowed(state: AuctionState) -> bool:
    """The rule, spelled out: no bid reached the reserve, or without one the price is below."""
    assert state.buy_now_price is not None
    if state.reserve_price is not None:
        return state.bid_count == 0 or state.current_price < state.reserve_price
    return state.current_price < state.buy_now_price


@settings(max_examples=300, deadline=None)
@given(option=options, batches=st.lists(st.lists(attempts, max_size=10), max_size=5))
def test_properties_of_buy_now_among_bids(
    option: dict[str, Decimal | None], batches: list[list[Attempt]]
) -> None:
    state = auction(**option)
    bought = False
    for batch in batches:
        decision = decide(state, batch, NOW)
        for i, (attempt, outcome) in enumerate(zip(batch, decision.outcomes, strict=True)):
            if bought:  # once bought, every later attempt is refused as not active
                assert outcome in (refusal(Reason.not_active), refusal(Reason.blocked))
                assert (
                    not isinstance(outcome, Refused)
                    or (outcome.reason is Reason.blocked) == attempt.blocked
                )
                continue
            if not attempt.buy_now:
                continue
            at = decide(state, batch[:i], NOW).after  # the state this attempt was judged on
            if isinstance(outcome, Bought):
                assert not attempt.blocked and attempt.bidder != SELLER
                assert at.buy_now_price is not None and allowed(at)
                assert outcome.price == at.buy_now_price and outcome.seq == at.seq + 1
                bought = True
            else:
                assert isinstance(outcome, Refused)
                assert (
                    attempt.blocked
                    or attempt.bidder == SELLER
                    or at.buy_now_price is None
                    or not allowed(at)
                )
        if decision.purchase is not None:
            after = decision.after
            assert after.status == "ended" and after.leader == decision.purchase.buyer
            assert after.current_price == decision.purchase.price
            assert after.seq == decision.purchase.seq
            if after.reserve_price is not None:
                assert after.reserve_met() is True  # the buy-now price is at least the reserve
        else:
            assert decision.after.status == ("ended" if bought else "active")
        state = decision.after
