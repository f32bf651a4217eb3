"""``POST /api/auctions/{id}/buy_now/``: Buy It Now over REST. Translation only: the purchase is
decided by the bid desk in order with the bids (``auctions.bidding``)."""

from __future__ import annotations

from decimal import Decimal

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED

from madeinpk.auctions import listing
from madeinpk.auctions.bidding.buy_now import Bought
from madeinpk.auctions.bidding.desk import BidDesk, BidRequest
from madeinpk.auctions.bidding.rate_limit import BidRateLimiter
from madeinpk.auctions.bidding.refusals import (
    INVALID_IDEMPOTENCY_KEY,
    KEY_PATTERN,
    MESSAGES,
    Reason,
    Refused,
)
from madeinpk.auctions.bidding.rules import Bidder
from madeinpk.auctions.controller import IdempotencyKey
from madeinpk.auctions.schemas import Purchased
from madeinpk.http.auth import Account, requires_account
from madeinpk.http.errors import BusinessError, NotFound, ServiceUnavailable
from madeinpk.money import format_money
from madeinpk.settings import Settings

BOUGHT = "You bought it with Buy It Now. Please complete payment."
# How a refused purchase is answered: ``{"error": message}`` with this status.
_STATUS = {
    Reason.not_active: 400,
    Reason.blocked: 403,
    Reason.own_auction: 400,
    Reason.no_buy_now: 400,
    Reason.buy_now_closed: 400,
    Reason.rate_limited: 429,
    Reason.idempotency_conflict: 422,
}


class BuyNowController(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @post(
        "/{auction_id:int}/buy_now/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="BuyNow",
        responses={
            401: ResponseSpec(None, description="No or an invalid token"),
            403: ResponseSpec(None, description="Your account is blocked"),
            404: ResponseSpec(None, description="Unknown auction"),
            422: ResponseSpec(None, description="Idempotency key reused with a different bid"),
            429: ResponseSpec(None, description="Too many bids, slow down"),
        },
    )
    async def buy_now(
        self,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        bid_desk: NamedDependency[BidDesk],
        bid_rate_limiter: NamedDependency[BidRateLimiter],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        idempotency_key: IdempotencyKey = None,
    ) -> Purchased:
        """Buy the item at the auction's ``buy_now_price``: the auction ends at once for the
        caller and its order is created (201 with it). No body. Decided in order with the
        bids. 400 ``{"error": ...}`` without a Buy It Now price, once a bid reached the reserve
        (or, without a reserve, the Buy It Now price), on an auction not active, and on your
        own; 403 when blocked; 422 for an Idempotency-Key used for something else."""
        if idempotency_key is not None and not KEY_PATTERN.fullmatch(idempotency_key):
            raise BusinessError(INVALID_IDEMPOTENCY_KEY)
        if not await bid_rate_limiter.allow(account.id):
            raise BusinessError(MESSAGES[Reason.rate_limited], 429)
        buyer = Bidder(account.id, account.username, account.email, account.language)
        outcome = await bid_desk.place(
            BidRequest(auction_id, buyer, Decimal(0), idempotency_key, buy_now=True)
        )
        if isinstance(outcome, Bought):
            orders = await auction_orders([auction_id], settings)
            return Purchased(
                message=BOUGHT,
                auction_id=auction_id,
                price=format_money(outcome.price),
                seq=outcome.seq,
                order=orders[auction_id],
            )
        if not isinstance(outcome, Refused) or outcome.reason is Reason.internal:
            raise ServiceUnavailable()
        if outcome.reason is Reason.not_found:
            raise NotFound()
        raise BusinessError(outcome.message, _STATUS[outcome.reason])
