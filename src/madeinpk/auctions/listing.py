"""Reading auctions for REST: filters, search, ordering, and the full Auction body.

A page costs a fixed number of queries: the rows (with product, seller and winner joined), then
images, seller profiles, the five latest bids of each (one window query), the watch counts (one
aggregate; the viewer's own watches, one more) and, for a seller, their orders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from piccolo.columns.combination import And, Where

from madeinpk.auctions.derived import derived_fields, starts_in
from madeinpk.auctions.schemas import Auction as AuctionBody
from madeinpk.auctions.schemas import Bid, OrderInfo
from madeinpk.auctions.tables import Auction, AuctionStatus, Watch
from madeinpk.catalog.products import product_bodies
from madeinpk.catalog.search import ProductSearch
from madeinpk.db.read_replicas import stale_read
from madeinpk.db.sql import dialect, raw
from madeinpk.http.auth import Account
from madeinpk.http.errors import field_error
from madeinpk.http.query import is_true_flag, optional_id_filter
from madeinpk.money import format_money
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

AUCTION_COLUMNS = (
    *Auction.all_columns(),
    Auction.product.id.as_alias("p_id"),
    Auction.product.seller.as_alias("p_seller"),
    Auction.product._.seller._.username.as_alias("p_seller_username"),
    Auction.product.category.as_alias("p_category"),
    Auction.product._.category._.name.as_alias("p_category_name"),
    Auction.product.name.as_alias("p_name"),
    Auction.product.description.as_alias("p_description"),
    Auction.product.condition.as_alias("p_condition"),
    Auction.product.created_at.as_alias("p_created_at"),
    Auction.product.updated_at.as_alias("p_updated_at"),
    Auction.winner.username.as_alias("winner_username"),
    Auction.winner.email.as_alias("winner_email"),
)
ORDERINGS = {
    "end_time": Auction.end_time,
    "start_time": Auction.start_time,  # the list page's "Starting soon": soonest first
    "current_price": Auction.current_price,
    "created_at": Auction.created_at,
}

_LATEST_BIDS = """
    SELECT id, auction, bidder, bidder_username, amount, bid_time, is_winning, is_auto FROM (
        SELECT b.id, b.auction, b.bidder, u.username AS bidder_username, b.amount, b.bid_time,
               b.is_winning, b.is_auto,
               ROW_NUMBER() OVER (PARTITION BY b.auction ORDER BY b.bid_time DESC, b.id DESC) AS n
        FROM bid b JOIN piccolo_user u ON u.id = b.bidder
        WHERE b.auction {among_ids} AND b.removed_at IS NULL
    ) ranked
    WHERE n <= 5
    ORDER BY auction, bid_time DESC, id DESC
"""

_WATCH_COUNTS = """
    SELECT auction, COUNT(*) AS watchers FROM watch WHERE auction {among_ids} GROUP BY auction
"""


def auction_filters(
    account: Account | None,
    *,
    status: str | None,
    seller: str | None,
    category: str | None,
    my_auctions: str | None,
    search: str | None,
) -> list[Where | And]:
    conditions: list[Any] = []
    if status:
        if status not in {s.value for s in AuctionStatus}:
            raise field_error(
                "status", f'Select a valid choice. "{status}" is not one of the available choices.'
            )
        conditions.append(Auction.status == status)
        if status == AuctionStatus.active.value:  # accepting bids right now
            now = utc_now()
            conditions += [Auction.start_time <= now, Auction.end_time > now]
    if (seller_id := optional_id_filter("seller", seller)) is not None:
        conditions.append(Auction.product.seller == seller_id)
    if (category_id := optional_id_filter("category", category)) is not None:
        conditions.append(Auction.product.category == category_id)
    if is_true_flag(my_auctions) and account is not None:
        conditions.append(Auction.product.seller == account.id)
    if (found := ProductSearch.parse(search)) is not None:
        conditions.append(found.matches(Auction.product))
    return conditions


def ordering(value: str | None) -> tuple[Any, bool]:
    """``field`` or ``-field`` over the allowed fields; anything else: newest first."""
    name = (value or "").strip()
    descending = name.startswith("-")
    column = ORDERINGS.get(name.lstrip("-"))
    return (column, not descending) if column is not None else (Auction.created_at, False)


class AuctionListings:
    """The catalogue's ``Listings``, answered from the auctions: a product with an auction is
    listed as ``"auction"``, and has bids when its auction does."""

    async def listing_types(self, product_ids: list[int]) -> dict[int, str]:
        rows = await stale_read(
            Auction.select(Auction.product).where(Auction.product.is_in(product_ids))
        )
        return {row["product"]: "auction" for row in rows}

    async def has_bids(self, product_id: int) -> bool:
        return await Auction.exists().where(
            (Auction.product == product_id) & (Auction.bid_count > 0)
        )


PRODUCT_LISTINGS = AuctionListings()


async def watch_counts(
    auction_ids: list[int], viewer_id: int | None
) -> tuple[dict[int, int], set[int]]:
    """How many watch each auction, and which of them the viewer watches: one aggregate over
    ``watch`` (indexed by auction), never the auction rows (the bid path's lock)."""
    if not auction_ids:
        return {}, set()
    spoken = dialect()
    counts_query = raw(Watch, _WATCH_COUNTS.format(among_ids=spoken.among("ids")), ids=auction_ids)
    counts = {r["auction"]: int(r["watchers"]) for r in await stale_read(counts_query)}
    mine: set[int] = set()
    if viewer_id is not None:
        rows = await stale_read(
            Watch.select(Watch.auction).where(
                (Watch.user == viewer_id) & Watch.auction.is_in(auction_ids)
            )
        )
        mine = {r["auction"] for r in rows}
    return counts, mine


# The orders of these auctions (by auction id), as their seller sees them. Orders sit above
# auctions, so the orders domain answers: the app factory provides ``orders.service.auction_orders``
# as the ``auction_orders`` dependency.
AuctionOrders = Callable[[list[int], Settings], Awaitable[dict[int, OrderInfo]]]


async def auction_bodies(
    rows: list[dict[str, Any]],
    viewer: Account | None,
    base_url: str,
    settings: Settings,
    auction_orders: AuctionOrders,
) -> list[AuctionBody]:
    if not rows:
        return []
    product_rows = [
        {
            "id": r["p_id"],
            "seller": r["p_seller"],
            "seller_username": r["p_seller_username"],
            "category": r["p_category"],
            "category_name": r["p_category_name"],
            "name": r["p_name"],
            "description": r["p_description"],
            "condition": r["p_condition"],
            "created_at": r["p_created_at"],
            "updated_at": r["p_updated_at"],
        }
        for r in rows
    ]
    products = {p.id: p for p in await product_bodies(product_rows, base_url, PRODUCT_LISTINGS)}
    ids = [r["id"] for r in rows]
    bids: dict[int, list[Bid]] = defaultdict(list)
    spoken = dialect()
    latest = raw(Auction, _LATEST_BIDS.format(among_ids=spoken.among("ids")), ids=ids)
    for b in await stale_read(latest):
        bids[b["auction"]].append(
            Bid(
                id=b["id"],
                bidder=b["bidder"],
                bidder_username=b["bidder_username"],
                amount=format_money(b["amount"]),
                bid_time=spoken.timestamp(b["bid_time"]),
                is_winning=bool(b["is_winning"]),
                is_auto=bool(b["is_auto"]),
            )
        )
    orders: dict[int, OrderInfo] = {}
    if viewer is not None:
        own_ended = [
            r["id"]
            for r in rows
            if r["p_seller"] == viewer.id and r["status"] != AuctionStatus.active.value
        ]
        if own_ended:
            orders = await auction_orders(own_ended, settings)
    watchers, watching = await watch_counts(ids, viewer.id if viewer else None)
    # The run after each of these, if it was relisted (docs/rest-api.md § Relist).
    successors = {
        s["relisted_from"]: s["id"]
        for s in await stale_read(
            Auction.select(Auction.id, Auction.relisted_from).where(
                Auction.relisted_from.is_in(ids)
            )
        )
    }
    now = utc_now()
    bodies = []
    for r in rows:
        is_seller = viewer is not None and viewer.id == r["p_seller"]
        running = r["status"] == AuctionStatus.active.value and r["start_time"] <= now
        order = orders.get(r["id"]) if is_seller else None
        derived = derived_fields(r, viewer.id if viewer else None, settings.bid_increments)
        reserve = r["reserve_price"] if is_seller else None
        bodies.append(
            AuctionBody(
                id=r["id"],
                product=products[r["p_id"]],
                starting_price=format_money(r["starting_price"]),
                current_price=format_money(r["current_price"]),
                start_time=r["start_time"],
                end_time=r["end_time"],
                created_at=r["created_at"],
                status=AuctionStatus(r["status"]),
                winner=r["winner"],
                winner_username=r["winner_username"],
                winner_email=r["winner_email"] if is_seller else None,
                latest_bids=bids.get(r["id"], []),
                total_bids=r["bid_count"],
                time_remaining=max(0, int((r["end_time"] - now).total_seconds())) if running else 0,
                winning_bid_amount=format_money(r["current_price"]) if r["bid_count"] else None,
                order_info=order,
                min_increment=derived.min_increment,
                min_next_bid=derived.min_next_bid,
                reserve_met=derived.reserve_met,
                reserve_price=format_money(reserve) if reserve is not None else None,
                soft_close_seconds=r["soft_close_seconds"],
                seq=r["seq"],
                server_time=now,
                my_max_bid=derived.my_max_bid,
                starts_in=starts_in(r["status"], r["start_time"], now),
                buy_now_price=derived.buy_now_price,
                buy_now_open=derived.buy_now_open and running and now < r["end_time"],
                bought_now=derived.bought_now,
                watch_count=watchers.get(r["id"], 0),
                is_watching=r["id"] in watching,
                auto_relist=r["auto_relist"],
                relisted_from=r["relisted_from"],
                relisted_as=successors.get(r["id"]),
            )
        )
    return bodies


async def list_auctions(
    conditions: list[Any],
    order_by: tuple[Any, bool],
    offset: int,
    limit: int,
    ranked: ProductSearch | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """``ranked``: the search to order by, most relevant first (``search.ranked_search``),
    then by ``order_by``."""
    count_query = Auction.count()
    query = Auction.select(*AUCTION_COLUMNS)
    for condition in conditions:
        count_query = count_query.where(condition)
        query = query.where(condition)
    column, ascending = order_by
    if ranked is not None:
        query = query.order_by(ranked.relevance(Auction.product), ascending=False)
    # Lists and searches are browsed; a bidder's decisions read the row on the primary (the
    # bid path), and a live page follows the auction's events, not this (see read_replicas).
    rows = await stale_read(
        query.order_by(column, ascending=ascending)
        .order_by(Auction.id, ascending=ascending)
        .offset(offset)
        .limit(limit)
    )
    return await stale_read(count_query), rows


async def auction_row(auction_id: int) -> dict[str, Any] | None:
    return await stale_read(
        Auction.select(*AUCTION_COLUMNS).where(Auction.id == auction_id).first()
    )
