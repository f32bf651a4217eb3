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
coalesced by ``Endings``: while one batch is being written, the next requests wait and go
together in the next one, and every batch also takes whatever else is due. A thousand auctions
ending in the same second are thus a few transactions per process, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from piccolo.engine.base import Engine
from piccolo.table import Table

from madeinpk import metrics
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.events import auction_ended_payload
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus
from madeinpk.money import format_money, to_money
from madeinpk.notifications.emails import (
    AUCTION_ENDED_SELLER,
    AUCTION_LOST,
    AUCTION_WON,
    RESERVE_NOT_MET,
)
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.settings import Settings
from madeinpk.sql import Connection, Dialect, transaction
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)


class OrderWriter(Protocol):
    """How a won auction becomes its order, written in the ending's own transaction. Orders sit
    above auctions, so this domain declares what it needs and ``orders.service.AUCTION_ORDERS``
    answers it; the assembly (the app factory, the worker's task registry) registers it."""

    @property
    def table(self) -> type[Table]: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    def row(
        self,
        *,
        auction_id: int,
        product_id: int,
        buyer_id: int,
        seller_id: int,
        amount: Decimal,
        ended_at: datetime,
        address_id: int | None,
        settings: Settings,
        now: datetime,
    ) -> tuple[tuple[Any, ...], str]:
        """The order's row (in ``columns`` order) and its number."""
        ...

    def payment_url(self, settings: Settings, order_number: str) -> str: ...


_order_writer: OrderWriter | None = None


def register_order_writer(writer: OrderWriter) -> None:
    global _order_writer
    _order_writer = writer


def order_writer() -> OrderWriter:
    if _order_writer is None:
        raise RuntimeError(
            "No order writer registered: the app factory and madeinpk.tasks register "
            "orders.service.AUCTION_ORDERS; a process that ends auctions must load one of them"
        )
    return _order_writer


# Auctions ended per transaction: large enough that a mass ending is a few transactions, small
# enough that one commits (and its events go out) within a fraction of a second.
BATCH = 200


@dataclass(slots=True)
class EndedAuction:
    auction_id: int
    seq: int
    end_time: datetime
    product_name: str
    winner: str | None
    final_price: Decimal
    reserve_met: bool | None = None
    encoded: bytes = b""

    def payload(self) -> bytes:
        """The ``auction_ended`` event, encoded once: stored and broadcast alike."""
        if not self.encoded:
            self.encoded = auction_ended_payload(
                self.auction_id,
                self.seq,
                self.winner,
                self.final_price,
                self.product_name,
                self.reserve_met,
            )
        return self.encoded


@dataclass(slots=True)
class EndedBatch:
    """What one ending transaction did."""

    ended: list[EndedAuction] = field(default_factory=list)
    # Requested auctions it did not end and that are still active: their end time in force
    # (not due yet by the database clock, or held by a bid for a moment).
    still_active: dict[int, datetime] = field(default_factory=dict)
    notified: set[int] = field(default_factory=set)  # users with new notifications
    email_ids: list[int] = field(default_factory=list)

    def after_commit(self) -> AfterCommit:
        done = AfterCommit()
        done.notify_users(self.notified)
        for ended in self.ended:
            done.broadcast(ended.auction_id, ended.seq, ended.payload())
        done.send_emails(self.email_ids)
        return done


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
    RETURNING a.id, a.product, a.current_price, a.end_time, a.seq, a.reserve_price
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
    RETURNING id, product, current_price, end_time, seq, reserve_price
"""

_SELLERS = """
    SELECT p.id AS product, p.name, p.seller, u.username, u.email
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
            ORDER BY ad.id LIMIT 1) AS address
    FROM bid b JOIN piccolo_user u ON u.id = b.bidder
    WHERE b.auction {among_auctions}
    GROUP BY b.auction, b.bidder, u.username, u.email
    ORDER BY b.auction, b.bidder
"""
_STILL_ACTIVE = "SELECT id, end_time FROM auction WHERE status = '{active}' AND id {among}"
# The statuses an ending moves between, written into the statements (``AuctionStatus``'s words).
_STATUSES = {"active": AuctionStatus.active.value, "ended": AuctionStatus.ended.value}


async def end_auctions(
    settings: Settings, ids: Sequence[int] = (), *, others: bool = True, limit: int = BATCH
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
            await _settle(db, closed, settings, now, batch)
    return batch


async def end_auction(auction_id: int, settings: Settings) -> EndedAuction | None:
    """End one auction if it is due and still active; None if there was nothing to do. Nothing
    is broadcast nor handed over (tools and tests; the outbox sweep sends its emails)."""
    batch = await end_auctions(settings, [auction_id], others=False, limit=1)
    return batch.ended[0] if batch.ended else None


@dataclass(slots=True)
class _Bidder:
    id: int
    username: str
    email: str
    winning: bool
    amount: Decimal | None
    address: int | None


async def _settle(
    db: Connection,
    closed: list[dict[str, Any]],
    settings: Settings,
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
    bidders: dict[int, list[_Bidder]] = {}
    for r in await db.fetch(
        _BIDDERS.format(among_auctions=db.dialect.among("auctions")), auctions=auction_ids
    ):
        bidders.setdefault(r["auction"], []).append(
            _Bidder(
                r["bidder"],
                r["username"],
                r["email"],
                bool(r["winning"]),
                db.dialect.money(r["amount"]),
                r["address"],
            )
        )
    endings = [_Ending(row, sellers[row["product"]], bidders.get(row["id"], [])) for row in closed]
    won = [e for e in endings if e.top is not None and e.ended.reserve_met is not False]
    orders: dict[int, int] = {}
    if won:
        writer = order_writer()
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
    for e in endings:
        e.write(orders.get(e.auction_id), settings, now)
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


class _Ending:
    """One closed auction: its outcome, and the notices and emails that tell it (in the order
    the winner, the other bidders, the seller)."""

    def __init__(
        self,
        row: dict[str, Any],
        seller: dict[str, Any],
        bidders: list[_Bidder],
    ) -> None:
        self.auction_id: int = row["id"]
        self.product_id: int = row["product"]
        self.seller_id: int = seller["seller"]
        self.seller = seller
        self.bidders = bidders
        self.top = next((b for b in bidders if b.winning), None)
        self.order_number = ""
        self.notices: list[tuple[Any, ...]] = []
        self.emails: list[tuple[Any, ...]] = []
        ended = EndedAuction(
            self.auction_id,
            row["seq"],
            Dialect.timestamp(row["end_time"]),
            seller["name"],
            None,
            to_money(row["current_price"]),
        )
        reserve = row["reserve_price"]
        if reserve is not None:
            ended.reserve_met = (
                self.top is not None
                and self.top.amount is not None
                and self.top.amount >= to_money(reserve)
            )
        if self.top is not None and self.top.amount is not None:
            ended.final_price = self.top.amount
            if ended.reserve_met is not False:
                ended.winner = self.top.username
        self.ended = ended

    def write(self, order_id: int | None, settings: Settings, now: datetime) -> None:
        ended, name, top = self.ended, self.ended.product_name, self.top
        if top is None:
            self._tell_seller(f"Your auction for {name} has ended with no bids.", now)
            return
        if ended.reserve_met is False:
            # No sale: the seller and the highest bidder are told (auction-rules.md § 8).
            message = (
                f"The auction for {name} has ended without a sale: the reserve price was not met."
            )
            self._notice(top.id, NotificationType.auction_lost, "Auction ended", message, now)
            subject, body = RESERVE_NOT_MET.render(username=top.username, message=message)
            self._email(f"auction_lost:{self.auction_id}:{top.id}", top.email, subject, body, now)
            self._tell_seller(
                f"Your auction for {name} has ended. The reserve price was not met.", now
            )
            return
        price = format_money(ended.final_price)
        hours = settings.payment_deadline_hours
        url = order_writer().payment_url(settings, self.order_number)
        self._notice(
            top.id,
            NotificationType.auction_won,
            "Congratulations! You won the auction",
            f"You won the auction for {name}. Please complete payment within {hours} hours: {url}",
            now,
            order_id,
        )
        subject, body = AUCTION_WON.render(
            username=top.username,
            product=name,
            amount=price,
            order_number=self.order_number,
            hours=str(hours),
            payment_url=url,
        )
        self._email(f"auction_won:{self.auction_id}", top.email, subject, body, now)
        for loser in self.bidders:
            if loser.id == top.id:
                continue
            self._notice(
                loser.id,
                NotificationType.auction_lost,
                "Auction ended",
                f"The auction for {name} has ended. The winning bid was Rs. {price}.",
                now,
            )
            subject, body = AUCTION_LOST.render(username=loser.username, product=name, amount=price)
            key = f"auction_lost:{self.auction_id}:{loser.id}"
            self._email(key, loser.email, subject, body, now)
        self._tell_seller(f"Your auction for {name} has ended. Winner: {top.username}", now)

    def _tell_seller(self, message: str, now: datetime) -> None:
        ended = self.ended
        self._notice(
            self.seller_id, NotificationType.auction_ended, "Your auction has ended", message, now
        )
        outcome = message
        if ended.winner and ended.reserve_met is not False:
            outcome += (
                f" at Rs. {format_money(ended.final_price)}. The buyer has been sent payment "
                "details."
            )
        subject, body = AUCTION_ENDED_SELLER.render(
            username=str(self.seller["username"]), product=ended.product_name, outcome=outcome
        )
        key = f"auction_ended:{self.auction_id}"
        self._email(key, str(self.seller["email"]), subject, body, now)

    def _notice(
        self,
        user_id: int,
        kind: NotificationType,
        title: str,
        message: str,
        now: datetime,
        order_id: int | None = None,
    ) -> None:
        self.notices.append((user_id, kind.value, title, message, self.auction_id, order_id, now))

    def _email(self, key: str, to: str, subject: str, body: str, now: datetime) -> None:
        self.emails.append((key, to, subject, body, now))


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


ENDED = True  # this request's auction was ended by this call
GONE = None  # not active any more: someone else ended it (or it was cancelled)
# Otherwise a request is answered with the auction's end time in force: still active.
Outcome = bool | datetime | None


class Endings:
    """One process's auction endings, coalesced: requests that arrive while a batch is being
    written wait and go together in the next; each batch also ends whatever else is due, and
    the batches go on while they come back full. One batch at a time per process; across
    processes the rows are shared out by ``SKIP LOCKED``."""

    def __init__(self, settings: Settings, effects: Effects) -> None:
        self.settings, self.effects = settings, effects
        self._waiting: dict[int, list[asyncio.Future[Outcome]]] = {}
        self._sweeps: list[asyncio.Future[int]] = []
        self._ended_for_sweeps = 0
        self._running: asyncio.Task[None] | None = None

    async def end(self, auction_id: int) -> Outcome:
        """End this auction if it is due: ``ENDED`` if this request did, ``GONE`` if it is no
        longer active, or its end time if it is still active (not due by the database clock,
        or its row held by a bid for a moment)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(auction_id, []).append(future)
        self._wake()
        return await future

    async def sweep(self) -> int:
        """End everything due; how many auctions this process ended meanwhile."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._sweeps.append(future)
        self._wake()
        return await future

    def _wake(self) -> None:
        if self._running is None:
            self._running = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            more = False
            while self._waiting or self._sweeps or more:
                ids = list(self._waiting)[:BATCH]
                waiting = {i: self._waiting.pop(i) for i in ids}
                try:
                    ended = await self._batch(ids, waiting)
                except Exception as exc:  # the database itself: the callers see it
                    logger.warning("Auctions not ended: %s", exc)
                    for future in [f for fs in waiting.values() for f in fs] + self._sweeps:
                        if not future.done():
                            future.set_exception(exc)
                    self._sweeps, more = [], False
                    continue
                if self._sweeps:
                    self._ended_for_sweeps += ended
                more = ended >= BATCH  # perhaps more is due
                if not more and self._sweeps:
                    sweeps, self._sweeps = self._sweeps, []
                    for sweep in sweeps:
                        if not sweep.done():
                            sweep.set_result(self._ended_for_sweeps)
                    self._ended_for_sweeps = 0
        finally:
            self._running = None

    async def _batch(
        self, ids: list[int], waiting: dict[int, list[asyncio.Future[Outcome]]]
    ) -> int:
        try:
            batch = await end_auctions(self.settings, ids)
        except Exception:
            logger.exception("Auctions could not be ended together; ending them one by one")
            return await self._one_by_one(ids, waiting)
        self._done(batch)
        ended = {e.auction_id for e in batch.ended}
        for auction_id, futures in waiting.items():
            outcome = ENDED if auction_id in ended else batch.still_active.get(auction_id, GONE)
            _answer(futures, outcome)
        return len(batch.ended)

    async def _one_by_one(
        self, ids: list[int], waiting: dict[int, list[asyncio.Future[Outcome]]]
    ) -> int:
        """One auction that cannot be ended must not hold up the others."""
        ended = 0
        for auction_id in ids or await due_auction_ids():
            futures = waiting.get(auction_id, [])
            try:
                batch = await end_auctions(self.settings, [auction_id], others=False, limit=1)
            except Exception as exc:
                logger.exception("Auction %s could not be ended", auction_id)
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self._done(batch)
            ended += len(batch.ended)
            _answer(futures, ENDED if batch.ended else batch.still_active.get(auction_id, GONE))
        return ended

    def _done(self, batch: EndedBatch) -> None:
        if not batch.ended:
            return
        self.effects.flush(batch.after_commit())
        now = utc_now()
        for ended in batch.ended:
            metrics.observe_ending_delay((now - ended.end_time).total_seconds())
            logger.info("Auction %s ended (winner: %s)", ended.auction_id, ended.winner)


def _answer(futures: list[asyncio.Future[Outcome]], outcome: Outcome) -> None:
    """Several requests for one auction: only the first ended it."""
    for index, future in enumerate(futures):
        if not future.done():
            future.set_result(GONE if index and outcome is ENDED else outcome)


def endings(settings: Settings, effects: Effects) -> Endings:
    """The process's ``Endings`` (one per ``Effects``: per app process or worker)."""
    if effects.endings is None:
        effects.endings = Endings(settings, effects)
    found: Endings = effects.endings
    return found


async def finish_auction(auction_id: int, settings: Settings, effects: Effects) -> bool:
    """End, then tell every watcher and hand the emails to workers. True if this call ended it."""
    return await endings(settings, effects).end(auction_id) is ENDED
