"""Starting scheduled auctions: exactly once, whoever runs it (the start task fired at the start
time, the sweep behind it, or the bid desk when a bid reaches an auction whose task is late).

A start is a state change like a bid or an ending: one conditional UPDATE moves each chosen
auction from ``scheduled`` to ``active`` (only once its start time has passed by the database
clock) and takes its next event number, and the ``auction_started`` event is stored with it in
the same transaction, then broadcast after commit. Whoever's UPDATE finds the row still
``scheduled`` starts it; everyone else finds nothing to do. On PostgreSQL the rows are chosen
``FOR UPDATE SKIP LOCKED`` so two starters never wait for each other, and a row held by a bid is
left to that bid's transaction, which opens the auction itself (``start_in_transaction``, called
by ``bidding.desk`` under the row lock): ``auction_started`` thus always precedes the first
``new_bid``, and no bid is refused because a task ran late.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from piccolo.engine.base import Engine

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.events import auction_started_payload
from madeinpk.auctions.lifecycle.watch_notices import tell_watchers_started
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus
from madeinpk.db.sql import Connection, transaction
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

# Auctions started per transaction (as ``endings.BATCH``).
BATCH = 200

_START_POSTGRES = """
    UPDATE auction a SET status = '{active}', seq = a.seq + 1, updated_at = statement_timestamp()
    FROM (
        SELECT id FROM auction
        WHERE status = '{scheduled}' AND start_time <= statement_timestamp() AND {which}
        ORDER BY id {among_ids} DESC, start_time, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE a.id = due.id AND a.status = '{scheduled}'
    RETURNING a.id, a.seq, a.start_time, a.end_time
"""
# SQLite: the transaction holds the database's write lock from its start (BEGIN IMMEDIATE).
_START_SQLITE = """
    UPDATE auction SET status = '{active}', seq = seq + 1, updated_at = :now
    WHERE id IN (
        SELECT id FROM auction
        WHERE status = '{scheduled}' AND start_time <= :now AND {which}
        ORDER BY id {among_ids} DESC, start_time, id
        LIMIT :limit
    )
    RETURNING id, seq, start_time, end_time
"""
_STILL_SCHEDULED = "SELECT id, start_time FROM auction WHERE status = '{scheduled}' AND id {among}"
_STATUSES = {"active": AuctionStatus.active.value, "scheduled": AuctionStatus.scheduled.value}


@dataclass(frozen=True, slots=True)
class StartedAuction:
    auction_id: int
    seq: int  # the ``auction_started`` event's
    start_time: datetime
    end_time: datetime


@dataclass(slots=True)
class StartedBatch:
    """What one start transaction did: the auctions it opened, the requested ones still
    scheduled (with their start times: not due by the database clock yet), and what to do once
    it committed."""

    started: list[StartedAuction] = field(default_factory=list)
    still_scheduled: dict[int, datetime] = field(default_factory=dict)
    done: AfterCommit = field(default_factory=AfterCommit)


async def start_in_transaction(
    db: Connection,
    ids: Sequence[int],
    done: AfterCommit,
    *,
    others: bool = True,
    limit: int = BATCH,
    now: datetime | None = None,
) -> StartedBatch:
    """THE start transaction's work, in the caller's transaction: open the auctions ``ids``
    that are due and still scheduled, and (``others``) any other due ones, up to ``limit``;
    store each one's ``auction_started`` and queue its broadcast in ``done``.

    Everything a start causes belongs here, committed with it (the one place: the start task,
    the sweep and the bid desk all come through it), the watchers' notices included."""
    now = now or utc_now()
    spoken = db.dialect
    ids = list(ids)
    among_ids = spoken.among("ids")
    which = "TRUE" if others else f"id {among_ids}"
    sql = _START_POSTGRES if spoken.postgres else _START_SQLITE
    start = sql.format(which=which, among_ids=among_ids, **_STATUSES)
    rows = await db.fetch(start, ids=ids, limit=limit, **({} if spoken.postgres else {"now": now}))
    batch = StartedBatch(done=done)
    batch.started = [
        StartedAuction(
            r["id"], r["seq"], spoken.timestamp(r["start_time"]), spoken.timestamp(r["end_time"])
        )
        for r in rows
    ]
    opened = {s.auction_id for s in batch.started}
    if missing := [i for i in ids if i not in opened]:
        still = _STILL_SCHEDULED.format(among=among_ids, **_STATUSES)
        batch.still_scheduled = {
            r["id"]: spoken.timestamp(r["start_time"]) for r in await db.fetch(still, ids=missing)
        }
    if not batch.started:
        return batch
    payloads = [
        (s, auction_started_payload(s.auction_id, s.seq, s.start_time, s.end_time))
        for s in batch.started
    ]
    events: list[tuple[Any, ...]] = [
        (s.auction_id, s.seq, payload.decode(), now) for s, payload in payloads
    ]
    insert, params = db.insert_sql(
        AuctionEvent, ("auction", "seq", "payload", "created_at"), events
    )
    await db.execute(insert, **params)
    for s, payload in payloads:
        done.broadcast(s.auction_id, s.seq, payload)
    await tell_watchers_started(db, [s.auction_id for s in batch.started], done, now)
    return batch


async def start_auctions(
    ids: Sequence[int] = (), *, others: bool = True, limit: int = BATCH
) -> StartedBatch:
    """Start, in a transaction of its own, the due auctions ``ids`` (and, ``others``, any other
    due ones). Nothing is broadcast: the caller flushes ``StartedBatch.done`` once this
    returned."""
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        return await start_in_transaction(db, ids, AfterCommit(), others=others, limit=limit)


async def start_time_if_scheduled(auction_id: int) -> datetime | None:
    row = (
        await Auction.select(Auction.start_time)
        .where((Auction.id == auction_id) & (Auction.status == AuctionStatus.scheduled.value))
        .first()
    )
    return row["start_time"] if row else None


async def any_due_to_start() -> bool:
    """A plain read first, so that a sweep with nothing to start writes nothing."""
    return await Auction.exists().where(
        (Auction.status == AuctionStatus.scheduled.value) & (Auction.start_time <= utc_now())
    )
