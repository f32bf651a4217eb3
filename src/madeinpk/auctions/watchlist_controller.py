"""``/api/auctions/{id}/watch/`` and ``/api/watchlist/``: translation only; the watchlist is
``watching``'s, the auctions are read as ``listing`` reads them."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from madeinpk.auctions import listing, watching
from madeinpk.auctions.schemas import Auction, Watching
from madeinpk.db.read_replicas import primary_reads
from madeinpk.http.auth import Account, requires_account
from madeinpk.http.errors import NotFound
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.requests import AnyRequest, base_url
from madeinpk.settings import Settings


class WatchController(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @post(
        "/{auction_id:int}/watch/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="WatchAuction",
        responses={200: ResponseSpec(Watching, description="Already watched: nothing changed")},
    )
    async def watch(
        self, account: NamedDependency[Account], auction_id: FromPath[int]
    ) -> Response[Watching]:
        """Add the auction to the caller's watchlist: 201 the first time, 200 when it already
        was there (idempotent)."""
        started = await watching.watch(account.id, auction_id)
        if started is None:
            raise NotFound()
        return Response(
            await _watching(account, auction_id),
            status_code=HTTP_201_CREATED if started else HTTP_200_OK,
        )

    @delete(
        "/{auction_id:int}/watch/",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_account],
        operation_id="UnwatchAuction",
    )
    async def unwatch(self, account: NamedDependency[Account], auction_id: FromPath[int]) -> None:
        """Take the auction off the caller's watchlist (204 also when it was not on it)."""
        if not await watching.unwatch(account.id, auction_id):
            raise NotFound()


async def _watching(account: Account, auction_id: int) -> Watching:
    with primary_reads():  # the caller's own write, just committed
        counts, mine = await listing.watch_counts([auction_id], account.id)
    return Watching(
        auction_id=auction_id,
        is_watching=auction_id in mine,
        watch_count=counts.get(auction_id, 0),
    )


class WatchlistController(Controller):
    path = "/api/watchlist"
    tags = ["auctions"]

    @get("/", guards=[requires_account], operation_id="ListWatchlist")
    async def watchlist(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        settings: NamedDependency[Settings],
        auction_orders: NamedDependency[listing.AuctionOrders],
        paging: NamedDependency[PageRequest],
    ) -> Page[Auction]:
        """The caller's watched auctions, newest watch first, in the auction list's shape."""
        with primary_reads():  # the caller's own data, always current
            count, rows = await watching.watchlist(account.id, paging.offset, paging.size)
            bodies = await listing.auction_bodies(
                rows, account, base_url(request), settings, auction_orders
            )
        return paging.build(request, count, bodies)
