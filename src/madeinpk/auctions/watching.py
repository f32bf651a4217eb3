"""Watchlists: a user watches an auction, stops watching it, and reads what they watch.

A watch is a row of its own (``Watch``, unique per user and auction), never a counter on the
auction row: that row is what the bid path locks, and a hot auction gains watchers exactly when
it is hot. ``watch_count`` is counted from the watches when an auction is read
(``listing.watch_counts``).
"""

from __future__ import annotations

from typing import Any

from madeinpk.auctions.listing import AUCTION_COLUMNS
from madeinpk.auctions.tables import Auction, Watch
from madeinpk.db.sql import raw
from madeinpk.timestamps import utc_now

# Joined on the auction: a watch whose auction is gone is not on the list (tables.Watch).
_COUNT = """
    SELECT COUNT(*) AS n FROM watch w JOIN auction a ON a.id = w.auction WHERE w."user" = :user
"""
_PAGE = """
    SELECT w.auction FROM watch w JOIN auction a ON a.id = w.auction WHERE w."user" = :user
    ORDER BY w.created_at DESC, w.id DESC
    LIMIT :limit OFFSET :offset
"""


async def auction_exists(auction_id: int) -> bool:
    return bool(await Auction.exists().where(Auction.id == auction_id))


async def watch(user_id: int, auction_id: int) -> bool | None:
    """Watch an auction: True if this call started watching it, False if already watched, None
    if there is no such auction. Idempotent; two racing calls make one watch (the unique index)."""
    if not await auction_exists(auction_id):
        return None
    rows = (
        await Watch.insert(Watch(user=user_id, auction=auction_id, created_at=utc_now()))
        .on_conflict(target=(Watch.user, Watch.auction), action="DO NOTHING")
        .returning(Watch.id)
    )
    return bool(rows)


async def unwatch(user_id: int, auction_id: int) -> bool:
    """Stop watching; False if there is no such auction (not watching it is no error)."""
    if not await auction_exists(auction_id):
        return False
    await Watch.delete().where((Watch.user == user_id) & (Watch.auction == auction_id))
    return True


async def watchlist(user_id: int, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """The user's watched auctions as ``listing`` reads auctions, newest watch first."""
    [counted] = await raw(Watch, _COUNT, user=user_id)
    watched = await raw(Watch, _PAGE, user=user_id, offset=offset, limit=limit)
    count = int(counted["n"])
    ids = [w["auction"] for w in watched]
    if not ids:
        return count, []
    rows = {r["id"]: r for r in await Auction.select(*AUCTION_COLUMNS).where(Auction.id.is_in(ids))}
    return count, [rows[i] for i in ids if i in rows]
