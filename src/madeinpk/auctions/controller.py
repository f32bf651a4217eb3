"""``/api/auctions/…`` and ``/api/seller/statistics/``: translation only; rules live in the
auction services (``service`` for bids, ``selling`` for the seller's side, ``listing`` to read)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from madeinpk.accounts.auth import Account, current_account, requires_account, requires_seller
from madeinpk.accounts.controller import base_url
from madeinpk.auctions import listing, selling, service
from madeinpk.auctions.events import AuctionEvents
from madeinpk.auctions.rate_limit import BidRateLimiter
from madeinpk.auctions.schemas import (
    Auction,
    AuctionCreate,
    AuctionUpdate,
    Bid,
    BidAmount,
    SellerStatistics,
)
from madeinpk.auctions.tables import Auction as AuctionRow
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.http_errors import BusinessError, NotFound, field_error
from madeinpk.money import InvalidAmount, format_money, parse_amount
from madeinpk.pagination import Page, PageRequest
from madeinpk.request_bodies import UPLOAD_LIMIT, json_or_form, read_body
from madeinpk.scheduling import cancel_auction_end, schedule_auction_end
from madeinpk.settings import Settings

AnyRequest = Request[Any, Any, Any]

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


def _viewer(request: AnyRequest) -> Account | None:
    user = request.scope.get("user")
    return user if isinstance(user, Account) else None


async def auction_body(request: AnyRequest, auction_id: int, settings: Settings) -> Auction:
    row = await listing.auction_row(auction_id)
    if row is None:
        raise NotFound()
    [body] = await listing.auction_bodies([row], _viewer(request), base_url(request), settings)
    return body


async def _update_auction(
    request: AnyRequest, auction_id: int, data: AuctionUpdate, settings: Settings
) -> Auction:
    """Seller only, while nobody has bid; moving the end time moves the scheduled ending."""
    terms = await selling.update_auction(current_account(request), auction_id, data)
    await schedule_auction_end(auction_id, terms.end_time)
    return await auction_body(request, auction_id, settings)


class AuctionController(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @get("/", operation_id="ListAuctions")
    async def list_auctions(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        status: FromQuery[str | None] = None,
        seller: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        my_auctions: FromQuery[str | None] = None,
        search: FromQuery[str | None] = None,
        ordering: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        page_size: FromQuery[str | None] = None,
    ) -> Page[Auction]:
        viewer = _viewer(request)
        paging = PageRequest.from_query(page, page_size)
        conditions = listing.auction_filters(
            viewer,
            status=status,
            seller=seller,
            category=category,
            my_auctions=my_auctions,
            search=search,
        )
        count, rows = await listing.list_auctions(
            conditions, listing.ordering(ordering), paging.offset, paging.size
        )
        bodies = await listing.auction_bodies(rows, viewer, base_url(request), settings)
        return paging.build(request, count, bodies)

    @get("/{auction_id:int}/", operation_id="GetAuction")
    async def get_auction(
        self, request: AnyRequest, auction_id: FromPath[int], settings: NamedDependency[Settings]
    ) -> Auction:
        return await auction_body(request, auction_id, settings)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        guards=[requires_seller],
        operation_id="CreateAuction",
        operation_class=json_or_form("AuctionCreate", "AuctionCreateForm"),
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def create_auction(
        self, request: AnyRequest, settings: NamedDependency[Settings]
    ) -> Auction:
        """JSON with ``product_id`` (an own product without a listing), or multipart in one step:
        ``name, description, category, condition, images`` plus the auction fields."""
        account = current_account(request)
        body = await read_body(request)
        if body.files or "product_id" not in body.fields:
            auction_id = await selling.create_with_product(
                account, body.fields, body.files.get("images", []), settings
            )
        else:
            auction_id = await selling.create_from_product(
                account, msgspec.convert(body.fields, AuctionCreate, strict=False)
            )
        row = (
            await AuctionRow.select(AuctionRow.end_time).where(AuctionRow.id == auction_id).first()
        )
        assert row is not None
        await schedule_auction_end(auction_id, row["end_time"])
        return await auction_body(request, auction_id, settings)

    @patch("/{auction_id:int}/", guards=[requires_account], operation_id="UpdateAuction")
    async def update_auction(
        self,
        request: AnyRequest,
        auction_id: FromPath[int],
        data: JSONBody[AuctionUpdate],
        settings: NamedDependency[Settings],
    ) -> Auction:
        return await _update_auction(request, auction_id, data, settings)

    @put("/{auction_id:int}/", guards=[requires_account], operation_id="ReplaceAuction")
    async def replace_auction(
        self,
        request: AnyRequest,
        auction_id: FromPath[int],
        data: JSONBody[AuctionUpdate],
        settings: NamedDependency[Settings],
    ) -> Auction:
        return await _update_auction(request, auction_id, data, settings)

    @delete(
        "/{auction_id:int}/",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_account],
        operation_id="DeleteAuction",
    )
    async def delete_auction(self, request: AnyRequest, auction_id: FromPath[int]) -> None:
        await selling.delete_auction(current_account(request), auction_id)
        await cancel_auction_end(auction_id)

    @post(
        "/{auction_id:int}/place_bid/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="PlaceBid",
    )
    async def place_bid(
        self,
        request: AnyRequest,
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
        if not await AuctionRow.exists().where(AuctionRow.id == auction_id):
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


@get(
    "/api/seller/statistics/",
    guards=[requires_seller],
    tags=["auctions"],
    operation_id="SellerStatistics",
)
async def seller_statistics(request: AnyRequest) -> SellerStatistics:
    return await selling.seller_statistics(current_account(request))
