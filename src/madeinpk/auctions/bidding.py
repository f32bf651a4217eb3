"""Placing bids: the one way a bid enters the system, for REST and WebSocket alike.

Bids for one auction are sequenced per process. The first bid is written at once; bids that
arrive while a batch is being written wait and are decided together, in arrival order, as the
next batch: one transaction takes the auction's row (``FOR UPDATE`` on PostgreSQL, the write lock
on SQLite), reads the state once, lets ``rules.decide`` judge every attempt, writes what the
decision lists in a few multi-row statements and commits. Across processes the row lock orders
the batches. Only then are the events broadcast (in ``seq`` order) and the emails handed over,
through ``after_commit``; nothing after the commit can turn a recorded bid into an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from piccolo.engine.base import Engine

from madeinpk import metrics
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.events import event_payload
from madeinpk.auctions.rules import (
    Accepted,
    Attempt,
    AuctionState,
    Bidder,
    Decision,
    Increments,
    Outcome,
    Prior,
    Reason,
    decide,
    refusal,
)
from madeinpk.auctions.tables import Auction, AuctionEvent
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.auctions.tables import BidRequest as BidRequestRow
from madeinpk.money import format_money, to_money
from madeinpk.notifications.emails import OUTBID
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.sql import Connection, transaction
from madeinpk.timestamps import as_utc, utc_now

logger = logging.getLogger(__name__)

KEY_LIFETIME = timedelta(hours=24)
MAX_BATCH = 100
KEY_RACE_RETRIES = 3

_outcome_encoder = msgspec.json.Encoder(decimal_format="string")
_outcome_decoder = msgspec.json.Decoder(Outcome)


@dataclass(frozen=True, slots=True)
class BidRequest:
    auction_id: int
    bidder: Bidder
    amount: Decimal
    key: str | None = None
    max_amount: Decimal | None = None


class BidDesk:
    """One per process: a queue per auction, and at most one batch of it in flight."""

    def __init__(
        self, effects: Effects, increments: Increments = (), max_batch: int = MAX_BATCH
    ) -> None:
        self.effects = effects
        self.increments = increments
        self.max_batch = max_batch
        self._queues: dict[int, list[tuple[BidRequest, asyncio.Future[Outcome]]]] = {}
        self._writers: dict[int, asyncio.Task[None]] = {}

    async def place(self, request: BidRequest) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(request.auction_id, []).append((request, future))
        if request.auction_id not in self._writers:
            self._writers[request.auction_id] = asyncio.create_task(self._write(request.auction_id))
        # Shielded: a client that goes away does not cancel a bid already in the batch.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Finish the batches in flight (shutdown)."""
        while self._writers:
            await asyncio.gather(*self._writers.values(), return_exceptions=True)

    async def _write(self, auction_id: int) -> None:
        try:
            while queue := self._queues.pop(auction_id, None):
                batch, rest = queue[: self.max_batch], queue[self.max_batch :]
                if rest:
                    self._queues[auction_id] = rest
                requests = [request for request, _ in batch]
                started = time.perf_counter()
                try:
                    outcomes, done = await decide_batch(auction_id, requests, self.increments)
                except Exception:
                    logger.exception("Bids on auction %s could not be decided", auction_id)
                    outcomes, done = [refusal(Reason.internal) for _ in batch], AfterCommit()
                metrics.observe_bid_decision(time.perf_counter() - started)
                self.effects.flush(done)
                _count(outcomes)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            del self._writers[auction_id]


def _count(outcomes: list[Outcome]) -> None:
    accepted = sum(isinstance(o, Accepted) for o in outcomes)
    if accepted:
        metrics.record_bid_accepted(accepted)
    for outcome in outcomes:
        if not isinstance(outcome, Accepted):
            metrics.record_bid_rejected(outcome.reason.value)


class _KeyRace(Exception):
    """Another transaction stored the same idempotency key a moment ago: decide again."""


async def decide_batch(
    auction_id: int, requests: list[BidRequest], increments: Increments = ()
) -> tuple[list[Outcome], AfterCommit]:
    """Decide and record ``requests`` in one transaction; the events wait in the result."""
    for _ in range(KEY_RACE_RETRIES):
        done = AfterCommit()
        try:
            return await _decide_in_transaction(auction_id, requests, increments, done), done
        except _KeyRace:
            continue
    raise RuntimeError(f"idempotency keys kept racing on auction {auction_id}")


async def _decide_in_transaction(
    auction_id: int, requests: list[BidRequest], increments: Increments, done: AfterCommit
) -> list[Outcome]:
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        bidder_ids = sorted({r.bidder.id for r in requests})
        locked = await _lock(db, auction_id, bidder_ids)
        if locked is None:
            return [refusal(Reason.not_found) for _ in requests]
        state, now, blocked = locked
        state = replace(state, increments=increments)
        priors = await _priors(db, requests, now) if any(r.key for r in requests) else {}
        attempts = [
            Attempt(
                bidder=r.bidder,
                amount=r.amount,
                max_amount=r.max_amount,
                blocked=r.bidder.id in blocked,
                key=r.key,
                prior=priors.get((r.bidder.id, r.key)) if r.key else None,
            )
            for r in requests
        ]
        decision = decide(state, attempts, now)
        outcomes = await _record(db, decision, done, now)
        await _remember_keys(db, auction_id, attempts, outcomes, now)
    return outcomes


_LOCK_POSTGRES = """
    SELECT s.*, clock_timestamp() AS now,
           u.username AS leader_username, u.email AS leader_email,
           ARRAY(SELECT "user" FROM user_profile
                 WHERE "user" = ANY(:bidders) AND is_blocked) AS blocked
    FROM (
        SELECT a.id, a.status, a.start_time, a.end_time, a.starting_price, a.current_price,
               a.bid_count, a.seq, a.leader, a.leader_max, a.last_bid_time,
               a.min_increment, a.reserve_price, a.soft_close_seconds,
               p.seller, p.name AS product_name
        FROM auction a JOIN product p ON p.id = a.product
        WHERE a.id = :auction
        FOR UPDATE OF a
    ) s
    LEFT JOIN piccolo_user u ON u.id = s.leader
"""
# The lock subquery is not flattened (it has a row mark), so ``now`` and the leader's name are
# read after the row is held: the time a bid is judged by is never before its predecessor's.

_STATE_SQLITE = """
    SELECT a.id, a.status, a.start_time, a.end_time, a.starting_price, a.current_price,
           a.bid_count, a.seq, a.leader, a.leader_max, a.last_bid_time,
           a.min_increment, a.reserve_price, a.soft_close_seconds,
           p.seller, p.name AS product_name,
           u.username AS leader_username, u.email AS leader_email
    FROM auction a JOIN product p ON p.id = a.product
    LEFT JOIN piccolo_user u ON u.id = a.leader
    WHERE a.id = :auction
"""

_BLOCKED_SQLITE = 'SELECT "user" FROM user_profile WHERE "user" IN (:bidders) AND is_blocked'


def _timestamp(value: Any) -> datetime:
    """SQLite returns computed or untyped timestamps as text."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


async def _lock(
    db: Connection, auction_id: int, bidder_ids: list[int]
) -> tuple[AuctionState, datetime, set[int]] | None:
    if db.postgres:
        rows = await db.fetch(_LOCK_POSTGRES, auction=auction_id, bidders=bidder_ids)
        if not rows:
            return None
        row = rows[0]
        now, blocked = _timestamp(row["now"]), set(row["blocked"])
    else:
        # Read with the write lock held (BEGIN IMMEDIATE goes first, in the same trip).
        rows, blocked_rows = await db.together(
            [(_STATE_SQLITE, {"auction": auction_id}), (_BLOCKED_SQLITE, {"bidders": bidder_ids})],
            0,
            1,
        )
        if not rows:
            return None
        row, now = rows[0], utc_now()
        blocked = {r["user"] for r in blocked_rows}
    leader = (
        Bidder(row["leader"], row["leader_username"], row["leader_email"])
        if row["leader"] is not None
        else None
    )
    state = AuctionState(
        auction_id=auction_id,
        product_name=row["product_name"],
        seller_id=row["seller"],
        status=row["status"],
        start_time=_timestamp(row["start_time"]),
        end_time=_timestamp(row["end_time"]),
        starting_price=to_money(row["starting_price"]),
        current_price=to_money(row["current_price"]),
        bid_count=row["bid_count"],
        seq=row["seq"],
        leader=leader,
        last_bid_time=(
            _timestamp(row["last_bid_time"]) if row["last_bid_time"] is not None else None
        ),
        leader_max=_money(row["leader_max"]),
        min_increment=_money(row["min_increment"]),
        reserve_price=_money(row["reserve_price"]),
        soft_close_seconds=row["soft_close_seconds"],
    )
    return state, now, blocked


def _money(value: Any) -> Decimal | None:
    return to_money(value) if value is not None else None


async def _priors(
    db: Connection, requests: list[BidRequest], now: datetime
) -> dict[tuple[int, str], Prior]:
    keyed = sorted({(r.bidder.id, r.key) for r in requests if r.key})
    match = " OR ".join(f'(bidder = :b{i} AND "key" = :k{i})' for i in range(len(keyed)))
    params: dict[str, Any] = {f"b{i}": b for i, (b, _) in enumerate(keyed)}
    params |= {f"k{i}": k for i, (_, k) in enumerate(keyed)}
    rows = await db.fetch(
        f'SELECT bidder, "key", auction, amount, max_amount, outcome FROM bid_request '
        f"WHERE created_at > :cutoff AND ({match})",
        cutoff=now - KEY_LIFETIME,
        **params,
    )
    return {
        (r["bidder"], r["key"]): Prior(
            r["auction"],
            to_money(r["amount"]),
            _money(r["max_amount"]),
            _outcome_decoder.decode(r["outcome"]),
        )
        for r in rows
    }


async def _record(
    db: Connection, decision: Decision, done: AfterCommit, now: datetime
) -> list[Outcome]:
    """Write what the decision lists; return the outcomes with the stored bids' ids.

    Everything goes in one round trip on PostgreSQL: the old winning bid is unflagged and the
    new one inserted side by side, as the database checks "one winning bid" at commit; SQLite
    runs the same statements in order."""
    if not decision.changed:
        return decision.outcomes
    state, auction_id = decision.after, decision.after.auction_id
    writes = [
        (
            "UPDATE auction SET current_price = :price, bid_count = :count, seq = :seq, "
            "leader = :leader, leader_max = :leader_max, last_bid_time = :time, "
            "end_time = :end_time, updated_at = :now WHERE id = :auction",
            {
                "price": state.current_price,
                "count": state.bid_count,
                "seq": state.seq,
                "leader": state.leader.id if state.leader else None,
                "leader_max": state.leader_max,
                "time": state.last_bid_time,
                "end_time": state.end_time,
                "now": now,
                "auction": auction_id,
            },
        )
    ]
    if decision.extended:
        done.schedule_ending(auction_id, state.end_time)
    if not decision.bids:  # only a leader's raised maximum
        await db.together(writes)
        return decision.outcomes
    writes.append(
        (
            "UPDATE bid SET is_winning = FALSE WHERE auction = :unwin AND is_winning",
            {"unwin": auction_id},
        )
    )
    payloads = [(e.seq, event_payload(auction_id, e)) for e in decision.events]
    writes.append(
        db.insert_sql(
            AuctionEvent,
            ("auction", "seq", "payload", "created_at"),
            [(auction_id, seq, payload.decode(), now) for seq, payload in payloads],
            prefix="ev",
        )
    )
    writes.extend(_outbid_notices(db, decision, now))
    last = len(decision.bids) - 1
    writes.append(
        db.insert_sql(
            BidRow,
            ("auction", "bidder", "amount", "bid_time", "is_winning", "is_auto", "seq"),
            [
                (auction_id, b.bidder.id, b.amount, b.time, i == last, b.is_auto, b.seq)
                for i, b in enumerate(decision.bids)
            ],
            "RETURNING id, seq",
            prefix="bd",
        )
    )
    done.notify_users(o.bidder.id for o in decision.outbid)  # pinged after commit
    if decision.outbid:  # the outbox statement comes just before the bids
        queued, inserted = await db.together(writes, len(writes) - 2, len(writes) - 1)
    else:
        queued, [inserted] = [], await db.together(writes, len(writes) - 1)
    for seq, payload in payloads:
        done.broadcast(auction_id, seq, payload)
    done.send_emails([r["id"] for r in queued])
    bid_ids = {r["seq"]: r["id"] for r in inserted}
    return [
        msgspec.structs.replace(o, bid_id=bid_ids[o.bid_seq])
        if isinstance(o, Accepted) and o.bid_seq and not o.bid_id
        else o
        for o in decision.outcomes
    ]


def _outbid_notices(
    db: Connection, decision: Decision, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """The in-app notices and outbox emails of those who lost the lead, committed with the bid
    that beat them; the outbox statement comes last and returns the emails' ids."""
    if not decision.outbid:
        return []
    product, auction_id = decision.before.product_name, decision.before.auction_id
    notices = db.insert_sql(
        Notification,
        ("user", "notification_type", "title", "message", "auction", "created_at"),
        [
            (
                o.bidder.id,
                NotificationType.bid_outbid.value,
                "You have been outbid",
                f"Someone placed a higher bid of Rs. {format_money(o.price)} on {product}",
                auction_id,
                now,
            )
            for o in decision.outbid
        ],
        prefix="nt",
    )
    emails = []
    for o in decision.outbid:
        subject, body = OUTBID.render(
            username=o.bidder.username, product=product, amount=format_money(o.price)
        )
        emails.append((f"outbid:{auction_id}:{o.seq}", o.bidder.email, subject, body, now))
    outbox = db.insert_sql(
        OutboxEmail,
        ("dedupe_key", "to_address", "subject", "body", "created_at"),
        emails,
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        prefix="em",
    )
    return [notices, outbox]


async def _remember_keys(
    db: Connection,
    auction_id: int,
    attempts: list[Attempt],
    outcomes: list[Outcome],
    now: datetime,
) -> None:
    """Store the first outcome of each new key; an expired row with the same key is reused."""
    rows: dict[tuple[int, str], tuple[Any, ...]] = {}
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        if attempt.key is None or attempt.prior is not None:
            continue
        slot = (attempt.bidder.id, attempt.key)
        if slot not in rows:
            encoded = _outcome_encoder.encode(outcome).decode()
            rows[slot] = (
                attempt.bidder.id,
                attempt.key,
                auction_id,
                attempt.amount,
                attempt.max_amount,
                encoded,
                now,
            )
    if not rows:
        return
    stored = await db.insert_rows(
        BidRequestRow,
        ("bidder", "key", "auction", "amount", "max_amount", "outcome", "created_at"),
        list(rows.values()),
        'ON CONFLICT (bidder, "key") DO UPDATE SET auction = excluded.auction, '
        "amount = excluded.amount, max_amount = excluded.max_amount, "
        "outcome = excluded.outcome, "
        "created_at = excluded.created_at WHERE bid_request.created_at <= :cutoff "
        "RETURNING id",
        cutoff=now - KEY_LIFETIME,
    )
    if len(stored) < len(rows):
        raise _KeyRace


async def forget_expired_keys() -> int:
    """Idempotency keys answer retries for ``KEY_LIFETIME``; after that a key is a new bid
    (``_remember_keys`` reuses the row), so older rows only take room: the sweep deletes them."""
    gone = (
        await BidRequestRow.delete()
        .where(BidRequestRow.created_at <= utc_now() - KEY_LIFETIME)
        .returning(BidRequestRow.id)
    )
    return len(gone)
