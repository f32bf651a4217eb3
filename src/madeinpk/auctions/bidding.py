"""Placing bids: the one way a bid enters the system, for REST and WebSocket alike.

Bids for one auction are sequenced per process. The first bid is written at once; bids that
arrive while a batch is being written wait and are decided together, in arrival order, as the
next batch: one transaction takes the auction's row (``FOR UPDATE`` on PostgreSQL, the write lock
on SQLite), reads the state once, lets ``rules.decide`` judge every attempt, writes what the
decision lists in a few multi-row statements and commits. Across processes the row lock orders
the batches. While an auction stays hot, the next batch starts from the state the last one left
and is written in one round trip, on condition that the row still holds it (``Known``). Only
then are the events broadcast (in ``seq`` order) and the emails handed over, through
``after_commit``; nothing after the commit can turn a recorded bid into an error.
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
from madeinpk.sql import (
    IF_HELD,
    IF_NOT_HELD,
    POSTGRES,
    SQLITE,
    Connection,
    Dialect,
    Moved,
    Statement,
    dialect,
    insert_sql,
    transaction,
    write_if_held,
)
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

KEY_LIFETIME = timedelta(hours=24)
MAX_BATCH = 100
KEY_RACE_RETRIES = 3
# How long a process may decide on the state its own last batch left, without reading it again
# under the lock: the product's name and the leader's address are read afresh at least this often.
KNOWN_FOR_SECONDS = 1.0
# How many times a batch is decided again on the row another writer left, each in one round
# trip, before it goes the locked way (BEGIN, SELECT … FOR UPDATE, writes, COMMIT).
MOVED_RETRIES = 3

_outcome_encoder = msgspec.json.Encoder(decimal_format="string")
_outcome_decoder = msgspec.json.Decoder(Outcome)


@dataclass(frozen=True, slots=True)
class BidRequest:
    auction_id: int
    bidder: Bidder
    amount: Decimal
    key: str | None = None
    max_amount: Decimal | None = None
    # Unix time after which the bid is refused undecided: a bid forwarded from another process
    # (``auctions.owners``), whose sender stops waiting for the answer soon after.
    not_after: float | None = None


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
        self._known: dict[int, Known] = {}

    async def place(self, request: BidRequest) -> Outcome:
        # Shielded: a client that goes away does not cancel a bid already in the batch.
        return await asyncio.shield(self.submit(request))

    def submit(self, request: BidRequest) -> asyncio.Future[Outcome]:
        """Queue a bid to be decided here; its outcome arrives in the future."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(request.auction_id, []).append((request, future))
        if request.auction_id not in self._writers:
            self._writers[request.auction_id] = asyncio.create_task(self._write(request.auction_id))
        return future

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
                batch = _refuse_late(batch)
                if not batch:
                    continue
                requests = [request for request, _ in batch]
                started = time.perf_counter()
                known = self._known.pop(auction_id, None)
                if known is not None and time.monotonic() - known.read_at > KNOWN_FOR_SECONDS:
                    known = None
                try:
                    outcomes, done, known = await decide_batch(
                        auction_id, requests, self.increments, known
                    )
                except Exception:
                    logger.exception("Bids on auction %s could not be decided", auction_id)
                    outcomes, done = [refusal(Reason.internal) for _ in batch], AfterCommit()
                else:
                    if known is not None:
                        self._forget_stale()
                        self._known[auction_id] = known
                metrics.observe_bid_decision(time.perf_counter() - started)
                self.effects.flush(done)
                _count(outcomes)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            del self._writers[auction_id]

    def _forget_stale(self) -> None:
        if len(self._known) >= 256:
            cutoff = time.monotonic() - KNOWN_FOR_SECONDS
            self._known = {k: v for k, v in self._known.items() if v.read_at > cutoff}


def _refuse_late(
    batch: list[tuple[BidRequest, asyncio.Future[Outcome]]],
) -> list[tuple[BidRequest, asyncio.Future[Outcome]]]:
    """Answer ``internal``, undecided, the bids whose sender has given up on them by now, so
    that no bid is recorded after its bidder was told it could not be processed."""
    if all(request.not_after is None for request, _ in batch):
        return batch
    now, kept = time.time(), []
    for request, future in batch:
        if request.not_after is not None and request.not_after < now:
            if not future.done():
                future.set_result(refusal(Reason.internal))
        else:
            kept.append((request, future))
    return kept


def _count(outcomes: list[Outcome]) -> None:
    accepted = sum(isinstance(o, Accepted) for o in outcomes)
    if accepted:
        metrics.record_bid_accepted(accepted)
    for outcome in outcomes:
        if not isinstance(outcome, Accepted):
            metrics.record_bid_rejected(outcome.reason.value)


class _KeyRace(Exception):
    """Another transaction stored the same idempotency key a moment ago: decide again."""


@dataclass(frozen=True, slots=True)
class Known:
    """An auction's state as this process's last batch left it (the bidders' blocks aside),
    and when it was last read under the lock."""

    state: AuctionState
    read_at: float  # time.monotonic()


async def decide_batch(
    auction_id: int,
    requests: list[BidRequest],
    increments: Increments = (),
    known: Known | None = None,
) -> tuple[list[Outcome], AfterCommit, Known | None]:
    """Decide and record ``requests`` in one transaction; the events wait in the result, with
    the state it left for the next batch to start from.

    With ``known`` (and no idempotency keys to look up), the batch is decided on that state
    and written in one round trip, on condition that the row still holds it. When another
    writer got there first, nothing is written and the same statement returns the row as that
    writer left it: the batch is decided again on it and written on the same condition, a few
    times at most, and only then under the lock."""
    if known is not None and not any(r.key for r in requests):
        done = AfterCommit()
        decided = await _decide_on_known(known, requests, increments, done)
        if decided is not None:
            outcomes, now_known, path = decided
            metrics.record_bid_batch(path)
            return outcomes, done, now_known
    metrics.record_bid_batch("locked")
    for _ in range(KEY_RACE_RETRIES):
        done = AfterCommit()
        read_at = time.monotonic()
        try:
            outcomes, left = await _decide_in_transaction(auction_id, requests, increments, done)
        except _KeyRace:
            continue
        return outcomes, done, Known(left, read_at) if left is not None else None
    raise RuntimeError(f"idempotency keys kept racing on auction {auction_id}")


async def _decide_in_transaction(
    auction_id: int, requests: list[BidRequest], increments: Increments, done: AfterCommit
) -> tuple[list[Outcome], AuctionState | None]:
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        bidder_ids = sorted({r.bidder.id for r in requests})
        locked = await _lock(db, auction_id, bidder_ids)
        if locked is None:
            return [refusal(Reason.not_found) for _ in requests], None
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
    return outcomes, decision.after


async def _decide_on_known(
    known: Known, requests: list[BidRequest], increments: Increments, done: AfterCommit
) -> tuple[list[Outcome], Known, str] | None:
    """Decide on the state this process left, and write on condition that the row still holds
    it (the same guarantee as holding the row: no bid lands between the state judged and the
    bids written) and that no bidder of the batch not judged blocked is blocked now; with the
    state it left and the path taken (``known``, or ``moved`` when decided again on the row
    another writer left). ``None`` when the row does not hold and another try would not help
    (``MOVED_RETRIES`` spent, or the row and the blocks are as judged, so what failed is what
    the row does not show: the database's clock past the end)."""
    engine: Engine = Auction._meta.db
    spoken = dialect(engine)
    state, read_at = known.state, known.read_at
    blocked: set[int] = set()
    for tries in range(MOVED_RETRIES + 1):
        written = await _write_on_state(
            engine, spoken, replace(state, increments=increments), requests, blocked, done
        )
        if not isinstance(written, Moved):
            outcomes, left = written
            return outcomes, Known(left, read_at), "moved" if tries else "known"
        if not written.rows:  # the auction is gone: the locked way says so
            return None
        row = written.rows[0]
        was = (_row(state), blocked)
        state, blocked = _state(spoken, state.auction_id, row), set(_array(row["blocked"]))
        read_at = time.monotonic()  # everything the lock reads, read with the row locked
        if (_row(state), blocked) == was:
            return None
    return None


async def _write_on_state(
    engine: Engine,
    spoken: Dialect,
    state: AuctionState,
    requests: list[BidRequest],
    blocked: set[int],
    done: AfterCommit,
) -> tuple[list[Outcome], AuctionState] | Moved:
    """One try of ``_decide_on_known``: the outcomes and the state left, or, when the row did
    not hold, what it holds now (the row of ``_current``)."""
    now = utc_now()
    attempts = [Attempt(r.bidder, r.amount, r.max_amount, r.bidder.id in blocked) for r in requests]
    decision = decide(state, attempts, now)
    bidders = sorted({r.bidder.id for r in requests})
    unchanged, params = _unchanged(spoken, state, [b for b in bidders if b not in blocked])
    current = _current(spoken, state.auction_id, bidders)
    if not decision.changed:  # refusals only: they hold if the row is as judged
        held: Statement = (f"SELECT a.id FROM auction AS a WHERE {unchanged}", params)
        checked = await write_if_held(engine, held, [], current=current)
        if isinstance(checked, Moved):
            return checked
        return decision.outcomes, decision.after
    # On PostgreSQL the bids are also judged against the database's clock: a bid decided just
    # before the end but arriving after it goes the locked way, and is refused there.
    still_open = " AND a.end_time > clock_timestamp()" if spoken.postgres else ""
    writes = _Writes(spoken, decision, now, (unchanged + still_open, params))
    returned = await write_if_held(
        engine, writes.auction, writes.rest, *writes.returning, current=current
    )
    if isinstance(returned, Moved):
        return returned
    return writes.finish(decision, done, returned), decision.after


def _row(state: AuctionState) -> dict[str, Any]:
    """The auction row's columns that hold ``state`` (all that the rules read), by name."""
    return {
        "status": state.status,
        "start_time": state.start_time,
        "end_time": state.end_time,
        "starting_price": state.starting_price,
        "current_price": state.current_price,
        "bid_count": state.bid_count,
        "seq": state.seq,
        "leader": state.leader.id if state.leader else None,
        "leader_max": state.leader_max,
        "last_bid_time": state.last_bid_time,
        "min_increment": state.min_increment,
        "reserve_price": state.reserve_price,
        "soft_close_seconds": state.soft_close_seconds,
    }


# What a batch of bids changes on the auction's row.
_BID_COLUMNS = (
    "current_price",
    "bid_count",
    "seq",
    "leader",
    "leader_max",
    "last_bid_time",
    "end_time",
)


def _unchanged(spoken: Dialect, state: AuctionState, bidders: list[int]) -> Statement:
    """``a`` (the auction row) still holds ``state``, column by column, and none of ``bidders``
    is blocked. The rest of what ``_lock`` reads (the product's seller and name, the leader's
    name and address) is read afresh at least every ``KNOWN_FOR_SECONDS``."""
    columns = _row(state)
    checks = " AND ".join(f"a.{c} IS NOT DISTINCT FROM :was_{c}" for c in columns)
    among = spoken.among("was_bidders")
    blocked = f'SELECT 1 FROM user_profile WHERE "user" {among} AND is_blocked'
    params = {f"was_{c}": value for c, value in columns.items()} | {
        "was_bidders": bidders,
        "was_auction": state.auction_id,
    }
    return f"a.id = :was_auction AND {checks} AND NOT EXISTS ({blocked})", params


_LOCK_POSTGRES = f"""
    SELECT s.*, clock_timestamp() AS now,
           u.username AS leader_username, u.email AS leader_email,
           ARRAY(SELECT "user" FROM user_profile
                 WHERE "user" {POSTGRES.among("bidders")} AND is_blocked) AS blocked
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

_STATE_COLUMNS_SQLITE = """
    a.id, a.status, a.start_time, a.end_time, a.starting_price, a.current_price,
    a.bid_count, a.seq, a.leader, a.leader_max, a.last_bid_time,
    a.min_increment, a.reserve_price, a.soft_close_seconds,
    p.seller, p.name AS product_name,
    u.username AS leader_username, u.email AS leader_email
"""
_STATE_FROM_SQLITE = """
    FROM auction a JOIN product p ON p.id = a.product
    LEFT JOIN piccolo_user u ON u.id = a.leader
"""
_STATE_SQLITE = f"SELECT {_STATE_COLUMNS_SQLITE} {_STATE_FROM_SQLITE} WHERE a.id = :auction"

_BLOCKED_SQLITE = (
    f'SELECT "user" FROM user_profile WHERE "user" {SQLITE.among("bidders")} AND is_blocked'
)

# The row as another writer left it, when a write on a known state found it moved: locked, so
# that it is read after that writer committed (``sql.write_if_held``). Travels as JSON: money as
# text, so that no amount goes through a float.
_CURRENT_POSTGRES = f"""
    SELECT s.*, u.username AS leader_username, u.email AS leader_email,
           ARRAY(SELECT "user" FROM user_profile
                 WHERE "user" {POSTGRES.among("cur_bidders")} AND is_blocked) AS blocked
    FROM (
        SELECT a.id, a.status, a.start_time, a.end_time, a.starting_price::text,
               a.current_price::text, a.bid_count, a.seq, a.leader, a.leader_max::text,
               a.last_bid_time, a.min_increment::text, a.reserve_price::text,
               a.soft_close_seconds, p.seller, p.name AS product_name
        FROM auction a JOIN product p ON p.id = a.product
        WHERE a.id = :cur_auction AND {IF_NOT_HELD}
        FOR UPDATE OF a
    ) s
    LEFT JOIN piccolo_user u ON u.id = s.leader
"""

_CURRENT_SQLITE = f"""
    SELECT {_STATE_COLUMNS_SQLITE},
           (SELECT json_group_array("user") FROM user_profile
            WHERE "user" {SQLITE.among("cur_bidders")} AND is_blocked) AS blocked
    {_STATE_FROM_SQLITE}
    WHERE a.id = :cur_auction
"""


def _current(spoken: Dialect, auction_id: int, bidders: list[int]) -> Statement:
    return (
        _CURRENT_POSTGRES if spoken.postgres else _CURRENT_SQLITE,
        {"cur_auction": auction_id, "cur_bidders": bidders},
    )


def _array(value: Any) -> list[int]:
    """An id array: a list from PostgreSQL, JSON text from SQLite."""
    return list(msgspec.json.decode(value) if isinstance(value, str) else value)


async def _lock(
    db: Connection, auction_id: int, bidder_ids: list[int]
) -> tuple[AuctionState, datetime, set[int]] | None:
    if db.dialect.postgres:
        rows = await db.fetch(_LOCK_POSTGRES, auction=auction_id, bidders=bidder_ids)
        if not rows:
            return None
        row = rows[0]
        now, blocked = db.dialect.timestamp(row["now"]), set(row["blocked"])
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
    return _state(db.dialect, auction_id, row), now, blocked


def _state(spoken: Dialect, auction_id: int, row: dict[str, Any]) -> AuctionState:
    """The rules' view of an auction's row (joined with its product and leader)."""
    leader = (
        Bidder(row["leader"], row["leader_username"], row["leader_email"])
        if row["leader"] is not None
        else None
    )
    return AuctionState(
        auction_id=auction_id,
        product_name=row["product_name"],
        seller_id=row["seller"],
        status=row["status"],
        start_time=spoken.timestamp(row["start_time"]),
        end_time=spoken.timestamp(row["end_time"]),
        starting_price=to_money(row["starting_price"]),
        current_price=to_money(row["current_price"]),
        bid_count=row["bid_count"],
        seq=row["seq"],
        leader=leader,
        last_bid_time=(
            spoken.timestamp(row["last_bid_time"]) if row["last_bid_time"] is not None else None
        ),
        leader_max=spoken.money(row["leader_max"]),
        min_increment=spoken.money(row["min_increment"]),
        reserve_price=spoken.money(row["reserve_price"]),
        soft_close_seconds=row["soft_close_seconds"],
    )


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
            db.dialect.money(r["max_amount"]),
            _outcome_decoder.decode(r["outcome"]),
        )
        for r in rows
    }


class _Writes:
    """What a decision writes, in statement order. With ``unchanged`` (a condition on the
    auction row ``a``), the auction's update only applies if it holds and returns the row's id,
    and on PostgreSQL every later statement depends on it (``sql.write_if_held``)."""

    def __init__(
        self,
        spoken: Dialect,
        decision: Decision,
        now: datetime,
        unchanged: Statement | None = None,
    ) -> None:
        state, auction_id = decision.after, decision.after.auction_id
        where, conditions = unchanged or ("a.id = :auction", {})
        only_if = IF_HELD if unchanged and spoken.postgres else ""
        row = _row(state)
        sets = ", ".join(f"{c} = :{c}" for c in _BID_COLUMNS)
        self.auction: Statement = (
            f"UPDATE auction AS a SET {sets}, updated_at = :now WHERE {where}"
            + (" RETURNING id" if unchanged else ""),
            conditions | {c: row[c] for c in _BID_COLUMNS} | {"now": now, "auction": auction_id},
        )
        self.rest: list[Statement] = []
        self.outbox: int | None = None  # index in ``rest`` of the outbox insert
        self.bids: int | None = None  # index in ``rest`` of the bid insert
        self.payloads = [(e.seq, event_payload(auction_id, e)) for e in decision.events]
        if not decision.bids:  # only a leader's raised maximum
            return
        also = f" AND {only_if}" if only_if else ""
        self.rest.append(
            (
                f"UPDATE bid SET is_winning = FALSE WHERE auction = :unwin AND is_winning{also}",
                {"unwin": auction_id},
            )
        )
        self.rest.append(
            insert_sql(
                spoken,
                AuctionEvent,
                ("auction", "seq", "payload", "created_at"),
                [(auction_id, seq, payload.decode(), now) for seq, payload in self.payloads],
                prefix="ev",
                only_if=only_if,
            )
        )
        if decision.outbid:
            notices, outbox = _outbid_notices(spoken, decision, now, only_if)
            self.rest.append(notices)
            self.outbox = len(self.rest)
            self.rest.append(outbox)
        last = len(decision.bids) - 1
        self.bids = len(self.rest)
        self.rest.append(
            insert_sql(
                spoken,
                BidRow,
                ("auction", "bidder", "amount", "bid_time", "is_winning", "is_auto", "seq"),
                [
                    (auction_id, b.bidder.id, b.amount, b.time, i == last, b.is_auto, b.seq)
                    for i, b in enumerate(decision.bids)
                ],
                "RETURNING id, seq",
                prefix="bd",
                only_if=only_if,
            )
        )

    @property
    def returning(self) -> tuple[int, ...]:
        return tuple(i for i in (self.outbox, self.bids) if i is not None)

    def finish(
        self, decision: Decision, done: AfterCommit, returned: list[list[dict[str, Any]]]
    ) -> list[Outcome]:
        """After the writes: the effects to carry out once committed, and the outcomes with the
        stored bids' ids."""
        auction_id = decision.after.auction_id
        if decision.extended:
            done.schedule_ending(auction_id, decision.after.end_time)
        rows = dict(zip(self.returning, returned, strict=True))
        done.notify_users(o.bidder.id for o in decision.outbid)
        for seq, payload in self.payloads:
            done.broadcast(auction_id, seq, payload)
        if self.outbox is not None:
            done.send_emails([r["id"] for r in rows[self.outbox]])
        if self.bids is None:
            return decision.outcomes
        bid_ids = {r["seq"]: r["id"] for r in rows[self.bids]}
        return [
            msgspec.structs.replace(o, bid_id=bid_ids[o.bid_seq])
            if isinstance(o, Accepted) and o.bid_seq and not o.bid_id
            else o
            for o in decision.outcomes
        ]


async def _record(
    db: Connection, decision: Decision, done: AfterCommit, now: datetime
) -> list[Outcome]:
    """Write what the decision lists, in the transaction that holds the row; return the
    outcomes with the stored bids' ids.

    Everything goes in one round trip on PostgreSQL: the old winning bid is unflagged and the
    new one inserted side by side, as the database checks "one winning bid" at commit; SQLite
    runs the same statements in order."""
    if not decision.changed:
        return decision.outcomes
    writes = _Writes(db.dialect, decision, now)
    statements = [writes.auction, *writes.rest]
    returned = await db.together(statements, *(i + 1 for i in writes.returning))
    return writes.finish(decision, done, returned)


def _outbid_notices(
    spoken: Dialect, decision: Decision, now: datetime, only_if: str
) -> tuple[Statement, Statement]:
    """The in-app notices and outbox emails of those who lost the lead, committed with the bid
    that beat them; the outbox statement returns the emails' ids."""
    product, auction_id = decision.before.product_name, decision.before.auction_id
    notices = insert_sql(
        spoken,
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
        only_if=only_if,
    )
    emails = []
    for o in decision.outbid:
        subject, body = OUTBID.render(
            username=o.bidder.username, product=product, amount=format_money(o.price)
        )
        emails.append((f"outbid:{auction_id}:{o.seq}", o.bidder.email, subject, body, now))
    outbox = insert_sql(
        spoken,
        OutboxEmail,
        ("dedupe_key", "to_address", "subject", "body", "created_at"),
        emails,
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        prefix="em",
        only_if=only_if,
    )
    return notices, outbox


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
