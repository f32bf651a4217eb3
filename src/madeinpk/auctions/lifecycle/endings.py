"""Ending auctions: exactly once, whoever runs it (the scheduled task, the sweep, two workers).

Endings are set-based: one transaction ends a batch of due auctions (up to ``BATCH``) in a
handful of statements, whatever their number:

1. one conditional UPDATE moves every chosen auction from ``active`` to ``ended`` (only if its
   end time has passed by the database clock) and takes each one's next event number, so
   ``auction_ended`` can never overtake a bid. On PostgreSQL the rows are chosen ``FOR UPDATE
   SKIP LOCKED``: two enders never wait for each other nor take the same auction, and an
   auction whose row a bid holds is left for the next batch (the bid may still be accepted);
2. the products, sellers and bidders of the closed auctions are read in fresh statements, so a
   bid that committed before the UPDATE took its row is seen; the winner is the ``is_winning``
   bid;
3. one INSERT of the orders, then (one round trip on PostgreSQL) the winners, notifications,
   outbox emails and ``auction_ended`` events.

The events are broadcast and the emails handed over after commit, through ``AfterCommit``.

In a process, requests to end auctions (the scheduled task of each auction, the sweep) are
coalesced by ``batching.Endings``; what each ended auction comes to (its order, notices and
emails) is ``outcomes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from piccolo.engine.base import Engine

from madeinpk.auctions.lifecycle.outcomes import (
    Bidder,
    EndedAuction,
    EndedBatch,
    Ending,
    OrderWriter,
)
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus
from madeinpk.db.sql import Connection, transaction
from madeinpk.notifications import texts
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.notifications.texts import as_language
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

# Auctions ended per transaction: large enough that a mass ending is a few transactions, small
# enough that one commits (and its events go out) within a fraction of a second.
BATCH = 200


# --- the transaction ---------------------------------------------------------------------------

_CLOSE_POSTGRES = """
    UPDATE auction a SET status = '{ended}', seq = a.seq + 1, updated_at = statement_timestamp()
    FROM (
        SELECT id FROM auction
        WHERE status = '{active}' AND end_time <= statement_timestamp() AND {which}
        ORDER BY id {among_ids} DESC, end_time, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE a.id = due.id AND a.status = '{active}'
    RETURNING a.id, a.product, a.current_price, a.end_time, a.seq, a.reserve_price,
              a.start_time, a.starting_price, a.min_increment, a.soft_close_seconds,
              a.auto_relist, a.buy_now_price
"""
# SQLite: the transaction holds the database's write lock from its start (BEGIN IMMEDIATE).
_CLOSE_SQLITE = """
    UPDATE auction SET status = '{ended}', seq = seq + 1, updated_at = :now
    WHERE id IN (
        SELECT id FROM auction
        WHERE status = '{active}' AND end_time <= :now AND {which}
        ORDER BY id {among_ids} DESC, end_time, id
        LIMIT :limit
    )
    RETURNING id, product, current_price, end_time, seq, reserve_price,
              start_time, starting_price, min_increment, soft_close_seconds, auto_relist,
              buy_now_price
"""

_SELLERS = """
    SELECT p.id AS product, p.name, p.seller, u.username, u.email,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = p.seller) AS language
    FROM product p JOIN piccolo_user u ON u.id = p.seller
    WHERE p.id {among_products}
"""
# Each bidder of each auction once: whether they hold the winning bid (and its amount), and the
# default address an order for them would ship to.
_BIDDERS = """
    SELECT b.auction, b.bidder, u.username, u.email,
           MAX(CASE WHEN b.is_winning THEN 1 ELSE 0 END) AS winning,
           MAX(CASE WHEN b.is_winning THEN b.amount END) AS amount,
           (SELECT ad.id FROM address ad WHERE ad."user" = b.bidder AND ad.is_default
            ORDER BY ad.id LIMIT 1) AS address,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = b.bidder) AS language
    FROM bid b JOIN piccolo_user u ON u.id = b.bidder
    WHERE b.auction {among_auctions} AND b.removed_at IS NULL
    GROUP BY b.auction, b.bidder, u.username, u.email
    ORDER BY b.auction, b.bidder
"""
_STILL_ACTIVE = "SELECT id, end_time FROM auction WHERE status = '{active}' AND id {among}"
# The statuses an ending moves between, written into the statements (``AuctionStatus``'s words).
_STATUSES = {"active": AuctionStatus.active.value, "ended": AuctionStatus.ended.value}


async def end_auctions(
    settings: Settings,
    orders: OrderWriter,
    ids: Sequence[int] = (),
    *,
    others: bool = True,
    limit: int = BATCH,
) -> EndedBatch:
    """End, in one transaction, the auctions ``ids`` that are due and active, and (``others``)
    any other due auctions, up to ``limit`` in all, the requested first. Nothing is broadcast
    or handed over: the caller flushes ``EndedBatch.after_commit()`` once this returned."""
    engine: Engine = Auction._meta.db
    ids = list(ids)
    async with transaction(engine) as db:
        now = utc_now()
        spoken = db.dialect
        among_ids = spoken.among("ids")
        which = "TRUE" if others else f"id {among_ids}"
        if spoken.postgres:
            close = _CLOSE_POSTGRES.format(which=which, among_ids=among_ids, **_STATUSES)
            closed = await db.fetch(close, ids=ids, limit=limit)
        else:
            close = _CLOSE_SQLITE.format(which=which, among_ids=among_ids, **_STATUSES)
            closed = await db.fetch(close, ids=ids, limit=limit, now=now)
        batch = EndedBatch()
        done = {row["id"] for row in closed}
        if missing := [i for i in ids if i not in done]:
            still = _STILL_ACTIVE.format(among=among_ids, **_STATUSES)
            rows = await db.fetch(still, ids=missing)
            batch.still_active = {r["id"]: spoken.timestamp(r["end_time"]) for r in rows}
        if closed:
            await _settle(db, closed, settings, orders, now, batch)
    return batch


async def end_auction(
    auction_id: int, settings: Settings, orders: OrderWriter
) -> EndedAuction | None:
    """End one auction if it is due and still active; None if there was nothing to do. Nothing
    is broadcast nor handed over (tools and tests; the outbox sweep sends its emails)."""
    batch = await end_auctions(settings, orders, [auction_id], others=False, limit=1)
    return batch.ended[0] if batch.ended else None


async def _settle(
    db: Connection,
    closed: list[dict[str, Any]],
    settings: Settings,
    writer: OrderWriter,
    now: datetime,
    batch: EndedBatch,
) -> None:
    """The winners, orders, notifications, emails and events of the auctions just closed."""
    auction_ids = [row["id"] for row in closed]
    products = sorted({row["product"] for row in closed})
    sellers = {
        r["product"]: r
        for r in await db.fetch(
            _SELLERS.format(among_products=db.dialect.among("products")), products=products
        )
    }
    bidders: dict[int, list[Bidder]] = {}
    for r in await db.fetch(
        _BIDDERS.format(among_auctions=db.dialect.among("auctions")), auctions=auction_ids
    ):
        bidders.setdefault(r["auction"], []).append(
            Bidder(
                r["bidder"],
                r["username"],
                r["email"],
                bool(r["winning"]),
                db.dialect.money(r["amount"]),
                r["address"],
                as_language(r["language"]),
            )
        )
    endings = [Ending(row, sellers[row["product"]], bidders.get(row["id"], [])) for row in closed]
    await write_endings(db, endings, settings, writer, now, batch, closed)


async def write_endings(
    db: Connection,
    endings: list[Ending],
    settings: Settings,
    writer: OrderWriter,
    now: datetime,
    batch: EndedBatch,
    closed: list[dict[str, Any]] | None = None,
) -> dict[int, int]:
    """The orders, winners, notifications, emails and events of ``endings`` (auctions already
    closed in this transaction, their ``closed`` rows when they ran out of time: the unsold
    ones that asked for it are relisted); the orders' ids by auction. Also a Buy It Now's
    (``purchases``: sold, never relisted)."""
    won = [e for e in endings if e.top is not None and e.ended.reserve_met is not False]
    orders: dict[int, int] = {}
    if won:
        rows = []
        for e in won:
            assert e.top is not None
            row, number = writer.row(
                auction_id=e.auction_id,
                product_id=e.product_id,
                buyer_id=e.top.id,
                seller_id=e.seller_id,
                amount=e.ended.final_price,
                ended_at=e.ended.end_time,
                address_id=e.top.address,
                settings=settings,
                now=now,
            )
            e.order_number = number
            rows.append(row)
        inserted = await db.insert_rows(writer.table, writer.columns, rows, "RETURNING id, auction")
        orders = {r["auction"]: r["id"] for r in inserted}
    notices: list[tuple[Any, ...]] = []
    emails: list[tuple[Any, ...]] = []
    unsold = [e for e in endings if e not in won]
    if closed:
        notices.extend(await _relist(db, closed, unsold, now, batch))
    for e in endings:
        e.write(orders.get(e.auction_id), settings, writer, now)
        batch.notified.update(n[0] for n in e.notices)
        notices.extend(e.notices)
        emails.extend(e.emails)
        batch.ended.append(e.ended)
    events = [(e.auction_id, e.ended.seq, e.ended.payload().decode(), now) for e in endings]
    writes = [
        db.insert_sql(
            Notification,
            ("user", "notification_type", "title", "message", "auction", "order", "created_at"),
            notices,
            prefix="nt",
        ),
        db.insert_sql(
            AuctionEvent, ("auction", "seq", "payload", "created_at"), events, prefix="ev"
        ),
    ]
    winners = [(e.auction_id, e.top.id) for e in won if e.top is not None]
    if winners and db.dialect.postgres:
        writes.append(
            (
                "UPDATE auction a SET winner = w.winner "
                "FROM unnest(:won_auctions::integer[], :won_by::integer[]) AS w(auction, winner) "
                "WHERE a.id = w.auction",
                {"won_auctions": [a for a, _ in winners], "won_by": [w for _, w in winners]},
            )
        )
    elif winners:
        writes.extend(
            (
                f"UPDATE auction SET winner = :w{i} WHERE id = :a{i}",
                {f"w{i}": winner, f"a{i}": auction_id},
            )
            for i, (auction_id, winner) in enumerate(winners)
        )
    writes.append(
        db.insert_sql(
            OutboxEmail,
            ("dedupe_key", "to_address", "subject", "body", "created_at"),
            emails,
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            prefix="em",
        )
    )
    (queued,) = await db.together(writes, len(writes) - 1)
    batch.email_ids = [r["id"] for r in queued]
    return orders


_RELIST_COLUMNS = (
    "product", "starting_price", "current_price", "bid_count", "seq", "min_increment",
    "reserve_price", "soft_close_seconds", "start_time", "end_time", "status", "created_at",
    "updated_at", "auto_relist", "relisted_from", "buy_now_price",
)  # fmt: skip


async def _relist(
    db: Connection,
    closed: list[dict[str, Any]],
    unsold: list[Ending],
    now: datetime,
    batch: EndedBatch,
) -> list[tuple[Any, ...]]:
    """``auto_relist`` (docs/auction-rules.md § Relist): each unsold run that asked for it is
    run again at once, for the same duration, with one automatic relist fewer; in the ending's
    transaction, its ending scheduled after commit. Returns the notices of the sellers and of
    the runs' bidders, each in their language."""
    by_id = {row["id"]: row for row in closed}
    spoken = db.dialect
    again = [(e, by_id[e.auction_id]) for e in unsold if by_id[e.auction_id]["auto_relist"]]
    if not again:
        return []
    rows = []
    for e, row in again:
        duration = spoken.timestamp(row["end_time"]) - spoken.timestamp(row["start_time"])
        start = spoken.money(row["starting_price"])
        rows.append(
            (
                e.product_id,
                start,
                start,
                0,
                0,
                spoken.money(row["min_increment"]),
                spoken.money(row["reserve_price"]),
                row["soft_close_seconds"],
                now,
                now + duration,
                AuctionStatus.active.value,
                now,
                now,
                int(row["auto_relist"]) - 1,
                e.auction_id,
                spoken.money(row["buy_now_price"]),
            )
        )
    inserted = await db.insert_rows(
        Auction, _RELIST_COLUMNS, rows, "RETURNING id, relisted_from, end_time, auto_relist"
    )
    notices = []
    ended = {e.auction_id: e for e, _ in again}
    for r in inserted:
        e = ended[r["relisted_from"]]
        batch.relisted[r["id"]] = spoken.timestamp(r["end_time"])
        left = r["auto_relist"]
        told = texts.AUTO_RELISTED_ONE_LEFT if left == 1 else texts.AUTO_RELISTED
        seller = as_language(e.seller.get("language"))
        notices.append(
            (
                e.seller_id,
                NotificationType.auction_relisted.value,
                *told.render(seller, product=e.ended.product_name, auction=r["id"], left=left),
                r["id"],
                None,
                now,
            )
        )
        batch.notified.add(e.seller_id)
        for bidder in e.bidders:  # a run with a reserve not met had bidders: it is up again
            notices.append(
                (
                    bidder.id,
                    NotificationType.auction_relisted.value,
                    *texts.RELISTED.render(
                        bidder.language, product=e.ended.product_name, auction=r["id"]
                    ),
                    r["id"],
                    None,
                    now,
                )
            )
            batch.notified.add(bidder.id)
    return notices


# --- who ends what, when -----------------------------------------------------------------------


async def end_time_if_active(auction_id: int) -> datetime | None:
    row = (
        await Auction.select(Auction.end_time)
        .where((Auction.id == auction_id) & (Auction.status == AuctionStatus.active.value))
        .first()
    )
    return row["end_time"] if row else None


async def due_auction_ids(limit: int = BATCH) -> list[int]:
    """Active auctions whose end time has passed (by this process's clock)."""
    rows = (
        await Auction.select(Auction.id)
        .where((Auction.status == AuctionStatus.active.value) & (Auction.end_time <= utc_now()))
        .order_by(Auction.end_time)
        .limit(limit)
    )
    return [r["id"] for r in rows]
