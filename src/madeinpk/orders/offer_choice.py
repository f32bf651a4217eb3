"""Who a second-chance offer goes to (docs/auction-rules.md § Second-chance offer): the pure
choice (``next_bidder``, property-tested in ``tests/unit/orders``) and the reads it is fed with:
the run's bids that were not removed, who already had their chance, whose account is blocked."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from madeinpk.accounts.tables import UserProfile
from madeinpk.auctions.tables import Bid
from madeinpk.money import to_money
from madeinpk.orders.offer_notices import recipient
from madeinpk.orders.tables import Offer, Order


@dataclass(frozen=True, slots=True)
class RunBid:
    bidder: int
    amount: Decimal
    bid_id: int  # the order bids were recorded in


def next_bidder(
    bids: Iterable[RunBid], excluded: Set[int], blocked: Set[int] = frozenset()
) -> tuple[int, Decimal] | None:
    """Who a second-chance offer goes to (pure: ``tests/unit/orders``): the bidder outside
    ``excluded`` (who had their chance) and ``blocked`` (blocked accounts) with the highest own
    highest bid, at that amount; of two with the same highest bid, the one who bid it first.
    None when nobody is left."""
    best: dict[int, tuple[Decimal, int]] = {}
    for bid in bids:
        if bid.bidder in excluded or bid.bidder in blocked:
            continue
        held = best.get(bid.bidder)
        if held is None or (bid.amount, -bid.bid_id) > (held[0], -held[1]):
            best[bid.bidder] = (bid.amount, bid.bid_id)
    if not best:
        return None
    bidder, (amount, _) = max(best.items(), key=lambda item: (item[1][0], -item[1][1]))
    return bidder, amount


async def offered_bidder(auction_id: int, excluded: set[int]) -> dict[str, Any] | None:
    """``next_bidder`` over the run's bids (blocked bidders skipped), with the chosen bidder's
    name, email and language."""
    rows = await Bid.select(Bid.bidder, Bid.amount, Bid.id).where(
        (Bid.auction == auction_id) & Bid.removed_at.is_null()  # a removed bid offers nothing
    )
    blocked = await blocked_among({r["bidder"] for r in rows})
    runs = (RunBid(r["bidder"], to_money(r["amount"]), r["id"]) for r in rows)
    chosen = next_bidder(runs, excluded, blocked)
    if chosen is None:
        return None
    return {"bidder": chosen[0], "amount": chosen[1], **await recipient(chosen[0])}


async def had_their_chance(auction_id: int) -> set[int]:
    """Who already had their chance on this run: every buyer of its orders and every bidder
    offered it before."""
    buyers = await Order.select(Order.buyer).where(Order.auction == auction_id)
    offered = await Offer.select(Offer.bidder).where(Offer.auction == auction_id)
    return {r["buyer"] for r in buyers} | {r["bidder"] for r in offered}


async def blocked_among(users: Set[int]) -> set[int]:
    """Which of ``users`` have a blocked account (``user_profile.is_blocked``): they cannot bid
    or log in, so they are offered nothing either."""
    if not users:
        return set()
    rows = await UserProfile.select(UserProfile.user).where(
        UserProfile.user.is_in(list(users)) & (UserProfile.is_blocked == True)  # noqa: E712
    )
    return {r["user"] for r in rows}
