"""``/api/auctions/…`` and ``/api/seller/statistics/``: translation only; rules live in the
auction services (``bidding`` for bids, ``selling`` for the seller's side, ``listing`` to read)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import UnsetType

from madeinpk.after_commit import Effects
from madeinpk.auctions import listing, relisting, selling
from madeinpk.auctions.bidding.desk import BidDesk, BidRequest
from madeinpk.auctions.bidding.rate_limit import BidRateLimiter
from madeinpk.auctions.bidding.refusals import (
    INVALID_IDEMPOTENCY_KEY,
    KEY_ALPHABET,
    KEY_PATTERN,
    MESSAGES,
    Reason,
    Refused,
)
from madeinpk.auctions.bidding.rules import Accepted, Bidder
from madeinpk.auctions.schemas import (
    Auction,
    Bid,
    BidAmount,
    MaximumUpdated,
    PlacedBid,
)
from madeinpk.auctions.tables import Auction as AuctionRow
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.catalog.search import SearchQuery, ranked_search
from madeinpk.db.read_replicas import primary_reads, stale_read
from madeinpk.http.auth import Account, requires_account, requires_seller
from madeinpk.http.bodies import (
    FORM_ENCODINGS,
    UPLOAD_LIMIT,
    json_only,
    json_or_form,
    read_body,
    read_json,
    to_struct,
)
from madeinpk.http.errors import (
    REQUIRED,
    BusinessError,
    FieldErrorCollector,
    FieldErrors,
    NotFound,
    ServiceUnavailable,
    field_error,
)
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.query import is_true_flag
from madeinpk.http.requests import AnyRequest, base_url
from madeinpk.money import format_money
from madeinpk.settings import Settings

# How a refused bid is answered over REST (the contract's statuses; ``too_low`` is a field error).
_BID_STATUS = {
    Reason.not_active: 400,
    Reason.not_started: 400,
    Reason.blocked: 403,
    Reason.own_auction: 400,
    Reason.idempotency_conflict: 422,
}
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description=f"Safe retries: {KEY_ALPHABET}. A repeat gets the first answer again and "
        "changes nothing (for 24 hours).",
    ),
]


def _rest_amount(fields: dict[str, Any]) -> tuple[Decimal, Decimal | None]:
    """The bid's money (a ``BidAmount``: a JSON number or a numeric string, the contract's
    money rule). Checked in the socket's order: a bad or missing amount is the one error."""
    errors = FieldErrorCollector()
    data = to_struct(fields, BidAmount, errors)
    if "amount" in errors.errors or isinstance(data.amount, UnsetType):
        raise FieldErrors({"amount": errors.errors.get("amount", [REQUIRED])})
    errors.check()
    max_amount = None if isinstance(data.max_amount, UnsetType) else data.max_amount
    # Plain Decimals: the bid desk compares and stores them.
    return Decimal(data.amount), None if max_amount is None else Decimal(max_amount)


def _viewer(request: AnyRequest) -> Account | None:
    user = request.scope.get("user")
    return user if isinstance(user, Account) else None


async def auction_body(
    request: AnyRequest,
    auction_id: int,
    settings: Settings,
    auction_orders: listing.AuctionOrders,
) -> Auction:
    row = await listing.auction_row(auction_id)
    if row is None:
        raise NotFound()
    [body] = await listing.auction_bodies(
        [row], _viewer(request), base_url(request), settings, auction_orders
    )
    return body


async def _update_auction(
    request: AnyRequest,
    account: Account,
    auction_id: int,
    settings: Settings,
    effects: Effects,
    auction_orders: listing.AuctionOrders,
) -> Auction:
    """Seller only, while nobody has bid (an ``AuctionUpdate``); moving the end time moves the
    scheduled ending."""
    await selling.update_auction(account, auction_id, await read_json(request), effects)
    return await auction_body(request, auction_id, settings, auction_orders)


def _bid_answer(account: Account, outcome: Accepted) -> Response[PlacedBid | MaximumUpdated]:
    if outcome.max_only:
        assert outcome.max_amount is not None
        body: PlacedBid | MaximumUpdated = MaximumUpdated(
            message="Maximum bid updated",
            max_amount=format_money(outcome.max_amount),
            current_price=format_money(outcome.current_price),
        )
        return Response(body, status_code=HTTP_200_OK)
    body = PlacedBid(
        id=outcome.bid_id,
        bidder=account.id,
        bidder_username=account.username,
        amount=format_money(outcome.amount),
        bid_time=outcome.time,
        is_winning=outcome.is_leading,
        is_auto=False,
        is_leading=outcome.is_leading,
        current_price=format_money(outcome.current_price),
    )
    return Response(body, status_code=HTTP_201_CREATED)


class AuctionController(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @get("/", operation_id="ListAuctions")
    async def list_auctions(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        paging: NamedDependency[PageRequest],
        status: FromQuery[str | None] = None,
        seller: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        my_auctions: FromQuery[str | None] = None,
        search: SearchQuery = None,
        ordering: FromQuery[str | None] = None,
    ) -> Page[Auction]:
        viewer = _viewer(request)
        # A seller's own auctions are their own data: read on the primary, always current.
        own = viewer is not None and is_true_flag(my_auctions)
        with primary_reads() if own else contextlib.nullcontext():
            conditions = listing.auction_filters(
                viewer,
                status=status,
                seller=seller,
                category=category,
                my_auctions=my_auctions,
                search=search,
            )
            count, rows = await listing.list_auctions(
                conditions,
                listing.ordering(ordering),
                paging.offset,
                paging.size,
                ranked_search(search, ordering, listing.ORDERINGS),
            )
            bodies = await listing.auction_bodies(
                rows, viewer, base_url(request), settings, auction_orders
            )
        return paging.build(request, count, bodies)

    @get("/{auction_id:int}/", operation_id="GetAuction")
    async def get_auction(
        self,
        request: AnyRequest,
        auction_id: FromPath[int],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
    ) -> Auction:
        return await auction_body(request, auction_id, settings, auction_orders)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        guards=[requires_seller],
        operation_id="CreateAuction",
        operation_class=json_or_form("AuctionCreate", "AuctionCreateForm"),
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def create_auction(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        effects: NamedDependency[Effects],
    ) -> Auction:
        """JSON with ``product_id`` (an own product without a listing), or multipart in one step:
        ``name, description, category, condition, images`` plus the auction fields; both take
        the options ``min_increment``, ``reserve_price`` and ``soft_close_seconds``."""
        body = await read_body(request)
        if body.files or "product_id" not in body.fields:
            auction_id = await selling.create_with_product(
                account,
                body.fields,
                body.files.get("images", []),
                settings,
                effects,
                is_form=request.headers.get("content-type", "").startswith(FORM_ENCODINGS),
            )
        else:
            auction_id = await selling.create_from_product(account, body.fields, settings, effects)
        return await auction_body(request, auction_id, settings, auction_orders)

    @patch(
        "/{auction_id:int}/",
        guards=[requires_account],
        operation_id="UpdateAuction",
        operation_class=json_only("AuctionUpdate"),
    )
    async def update_auction(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        effects: NamedDependency[Effects],
    ) -> Auction:
        return await _update_auction(
            request, account, auction_id, settings, effects, auction_orders
        )

    @put(
        "/{auction_id:int}/",
        guards=[requires_account],
        operation_id="ReplaceAuction",
        operation_class=json_only("AuctionUpdate"),
    )
    async def replace_auction(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        effects: NamedDependency[Effects],
    ) -> Auction:
        return await _update_auction(
            request, account, auction_id, settings, effects, auction_orders
        )

    @delete(
        "/{auction_id:int}/",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_account],
        operation_id="DeleteAuction",
    )
    async def delete_auction(
        self,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        effects: NamedDependency[Effects],
    ) -> None:
        await selling.delete_auction(account, auction_id, effects)

    @post(
        "/{auction_id:int}/relist/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="RelistAuction",
        operation_class=json_only("AuctionRelist"),
    )
    async def relist_auction(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        effects: NamedDependency[Effects],
    ) -> Auction:
        """Seller only: a new run of an auction that ended without a sale, with new times (the
        product, price and options are the old run's). 201 with the new auction."""
        new_id = await relisting.relist_auction(
            account, auction_id, await read_json(request), effects
        )
        return await auction_body(request, new_id, settings, auction_orders)

    @post(
        "/{auction_id:int}/place_bid/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="PlaceBid",
        operation_class=json_only("BidAmount"),
    )
    async def place_bid(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        auction_id: FromPath[int],
        bid_desk: NamedDependency[BidDesk],
        bid_rate_limiter: NamedDependency[BidRateLimiter],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PlacedBid | MaximumUpdated]:
        """201 with the recorded bid; 200 when a leader only raised its maximum."""
        if idempotency_key is not None and not KEY_PATTERN.fullmatch(idempotency_key):
            raise BusinessError(INVALID_IDEMPOTENCY_KEY)
        # Numbers read as written, never through a float: the socket reads them so too.
        amount, max_amount = _rest_amount(await read_json(request, exact_numbers=True))
        if not await bid_rate_limiter.allow(account.id):
            raise BusinessError(MESSAGES[Reason.rate_limited], 429)
        bidder = Bidder(account.id, account.username, account.email, account.language)
        outcome = await bid_desk.place(
            BidRequest(auction_id, bidder, amount, idempotency_key, max_amount)
        )
        if isinstance(outcome, Accepted):
            return _bid_answer(account, outcome)
        if not isinstance(outcome, Refused):  # a bid is never a purchase
            raise ServiceUnavailable()
        if outcome.reason is Reason.not_found:
            raise NotFound()
        if outcome.reason is Reason.internal:  # the database went away mid-batch: an outage
            raise ServiceUnavailable()
        if outcome.reason in (Reason.too_low, Reason.below_increment):
            raise field_error("amount", outcome.message)
        if outcome.reason is Reason.invalid_max_amount:
            raise field_error("max_amount", outcome.message)
        raise BusinessError(outcome.message, _BID_STATUS[outcome.reason])

    @get("/{auction_id:int}/bids/", operation_id="ListBids")
    async def bids(self, auction_id: FromPath[int]) -> list[Bid]:
        # A public history, append-only: a replica's is the same, a few seconds shorter at most.
        if not await stale_read(AuctionRow.exists().where(AuctionRow.id == auction_id)):
            raise NotFound()
        rows = await stale_read(
            BidRow.select(*BidRow.all_columns(), BidRow.bidder.username.as_alias("bidder_username"))
            .where((BidRow.auction == auction_id) & BidRow.removed_at.is_null())
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
                is_auto=bool(r["is_auto"]),
            )
            for r in rows
        ]
