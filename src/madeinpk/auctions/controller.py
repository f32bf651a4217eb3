"""``/api/auctions/…``: bidding over REST, through the same service as the socket."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from madeinpk.accounts.auth import current_account, requires_account
from madeinpk.auctions import service
from madeinpk.auctions.events import AuctionEvents
from madeinpk.auctions.rate_limit import BidRateLimiter
from madeinpk.auctions.schemas import Bid, BidAmount
from madeinpk.auctions.tables import Auction
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.http_errors import BusinessError, NotFound, field_error
from madeinpk.money import InvalidAmount, format_money, parse_amount

_BID_STATUS = {
    service.Rejection.not_active: 400,
    service.Rejection.blocked: 403,
    service.Rejection.own_auction: 400,
}


def _rest_amount(data: BidAmount) -> Decimal:
    """REST takes a JSON number or a numeric string (the contract's money rule)."""
    if data.amount is msgspec.UNSET:
        raise field_error("amount", "This field is required.")
    try:
        return parse_amount(data.amount)
    except InvalidAmount as exc:
        raise field_error("amount", str(exc)) from None


class BidController(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @post(
        "/{auction_id:int}/place_bid/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="PlaceBid",
    )
    async def place_bid(
        self,
        request: Request[Any, Any, Any],
        auction_id: FromPath[int],
        data: JSONBody[BidAmount],
        auction_events: NamedDependency[AuctionEvents],
        bid_rate_limiter: NamedDependency[BidRateLimiter],
    ) -> Bid:
        account = current_account(request)
        amount = _rest_amount(data)
        if not bid_rate_limiter.allow(account.id):
            raise BusinessError("Too many bids, slow down", 429)
        try:
            placed = await service.place_bid(auction_id, account, amount, auction_events)
        except service.BidRejected as rejected:
            if rejected.reason is service.Rejection.not_found:
                raise NotFound() from None
            if rejected.reason is service.Rejection.too_low:
                raise field_error("amount", rejected.message) from None
            raise BusinessError(rejected.message, _BID_STATUS[rejected.reason]) from None
        return Bid(
            id=placed.id,
            bidder=account.id,
            bidder_username=account.username,
            amount=format_money(placed.amount),
            bid_time=placed.time,
            is_winning=True,
        )

    @get("/{auction_id:int}/bids/", operation_id="ListBids")
    async def bids(self, auction_id: FromPath[int]) -> list[Bid]:
        if not await Auction.exists().where(Auction.id == auction_id):
            raise NotFound()
        rows = (
            await BidRow.select(
                BidRow.all_columns(), BidRow.bidder.username.as_alias("bidder_username")
            )
            .where(BidRow.auction == auction_id)
            .order_by(BidRow.bid_time, ascending=False)
            .order_by(BidRow.id, ascending=False)
        )
        return [
            Bid(
                id=r["id"],
                bidder=r["bidder"],
                bidder_username=r["bidder_username"],
                amount=format_money(r["amount"]),
                bid_time=r["bid_time"],
                is_winning=bool(r["is_winning"]),
            )
            for r in rows
        ]
