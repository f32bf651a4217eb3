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
from datetime import datetime
from decimal import Decimal

from piccolo.engine.base import Engine

from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.bidding.buy_now import Bought
from madeinpk.auctions.bidding.keys import KeyRace, read_priors, remember_keys
from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.auctions.bidding.removal import (
    RemovalOutcome,
    RemovalRequest,
    remove_in_transaction,
)
from madeinpk.auctions.bidding.row_state import (
    current_row,
    int_array,
    lock_auction,
    state_columns,
    state_from_row,
    still_holds,
)
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Attempt,
    AuctionState,
    AuctionStatus,
    Bidder,
    Increments,
    Outcome,
    decide,
)
from madeinpk.auctions.bidding.writes import BatchWrites, record_decision
from madeinpk.auctions.lifecycle.purchases import Purchases
from madeinpk.auctions.lifecycle.starts import start_in_transaction
from madeinpk.auctions.tables import Auction
from madeinpk.db.held_writes import Moved, write_if_held
from madeinpk.db.sql import Connection, Dialect, Statement, dialect, transaction
from madeinpk.observability import metrics
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)
MAX_BATCH = 100
KEY_RACE_RETRIES = 3
# How long a process may decide on the state its own last batch left, without reading it again
# under the lock: the product's name and the leader's address are read afresh at least this often.
KNOWN_FOR_SECONDS = 1.0
# How many times a batch is decided again on the row another writer left, each in one round
# trip, before it goes the locked way (BEGIN, SELECT … FOR UPDATE, writes, COMMIT).
MOVED_RETRIES = 3


@dataclass(frozen=True, slots=True)
class BidRequest:
    auction_id: int
    bidder: Bidder
    amount: Decimal
    key: str | None = None
    max_amount: Decimal | None = None
    # Unix time after which the bid is refused undecided: a bid forwarded from another process
    # (``bidding.owners``), whose sender stops waiting for the answer soon after.
    not_after: float | None = None
    buy_now: bool = False  # Buy It Now (``amount`` 0): ends the auction at its buy-now price


class BidDesk:
    """One per process: a queue per auction, and at most one batch of it in flight."""

    def __init__(
        self,
        effects: Effects,
        increments: Increments = (),
        max_batch: int = MAX_BATCH,
        purchases: Purchases | None = None,
    ) -> None:
        self.effects = effects
        self.increments = increments
        self.max_batch = max_batch
        self.purchases = purchases  # how a Buy It Now ends the auction (None: refused)
        # Removals wait in the same queue as the bids, so they are decided in order with them.
        self._queues: dict[int, list[_Bid | _Removal]] = {}
        self._writers: dict[int, asyncio.Task[None]] = {}
        self._known: dict[int, Known] = {}

    async def place(self, request: BidRequest) -> Outcome:
        # Shielded: a client that goes away does not cancel a bid already in the batch.
        return await asyncio.shield(self.submit(request))

    def submit(self, request: BidRequest) -> asyncio.Future[Outcome]:
        """Queue a bid to be decided here; its outcome arrives in the future."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(request.auction_id, []).append((request, future))
        self._start(request.auction_id)
        return future

    async def remove(self, request: RemovalRequest) -> RemovalOutcome:
        """Remove a bid (docs/auction-rules.md § 10), after the bids queued before it and before
        those queued after: a removal is decided alone, under the auction's row lock."""
        future: asyncio.Future[RemovalOutcome] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(request.auction_id, []).append(_Removal(request, future))
        self._start(request.auction_id)
        return await asyncio.shield(future)

    def _start(self, auction_id: int) -> None:
        if auction_id not in self._writers:
            self._writers[auction_id] = asyncio.create_task(self._write(auction_id))

    async def drain(self) -> None:
        """Finish the batches in flight (shutdown)."""
        while self._writers:
            await asyncio.gather(*self._writers.values(), return_exceptions=True)

    async def _write(self, auction_id: int) -> None:
        try:
            while queue := self._queues.pop(auction_id, None):
                first = queue[0]
                if isinstance(first, _Removal):
                    if queue[1:]:
                        self._queues[auction_id] = queue[1:]
                    await self._remove(auction_id, first)
                    continue
                cut = next((i for i, q in enumerate(queue) if isinstance(q, _Removal)), len(queue))
                cut = min(cut, self.max_batch)
                batch = [q for q in queue[:cut] if not isinstance(q, _Removal)]
                if queue[cut:]:
                    self._queues[auction_id] = queue[cut:]
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
                        auction_id, requests, self.increments, known, self.purchases
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

    async def _remove(self, auction_id: int, removal: _Removal) -> None:
        """A removal, alone. What this process knew of the auction's row is forgotten: the next
        batch reads it again under the lock."""
        request, future = removal.request, removal.future
        self._known.pop(auction_id, None)
        done = AfterCommit()
        try:
            outcome: RemovalOutcome = await remove_in_transaction(request, self.increments, done)
        except Exception:
            logger.exception("Removal of a bid on auction %s failed", auction_id)
            outcome, done = refusal(Reason.internal), AfterCommit()
        self.effects.flush(done)
        if not future.done():
            future.set_result(outcome)

    def _forget_stale(self) -> None:
        if len(self._known) >= 256:
            cutoff = time.monotonic() - KNOWN_FOR_SECONDS
            self._known = {k: v for k, v in self._known.items() if v.read_at > cutoff}


_Bid = tuple[BidRequest, asyncio.Future[Outcome]]


@dataclass(frozen=True, slots=True)
class _Removal:
    """A removal waiting in an auction's queue of bids."""

    request: RemovalRequest
    future: asyncio.Future[RemovalOutcome]


def _refuse_late(
    batch: list[_Bid],
) -> list[_Bid]:
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
    accepted = sum(isinstance(o, Accepted | Bought) for o in outcomes)
    if accepted:
        metrics.record_bid_accepted(accepted)
    for outcome in outcomes:
        if isinstance(outcome, Refused):
            metrics.record_bid_rejected(outcome.reason.value)


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
    purchases: Purchases | None = None,
) -> tuple[list[Outcome], AfterCommit, Known | None]:
    """Decide and record ``requests`` in one transaction; the events wait in the result, with
    the state it left for the next batch to start from.

    With ``known`` (and no idempotency keys to look up), the batch is decided on that state
    and written in one round trip, on condition that the row still holds it. When another
    writer got there first, nothing is written and the same statement returns the row as that
    writer left it: the batch is decided again on it and written on the same condition, a few
    times at most, and only then under the lock. A batch with a Buy It Now goes the locked way:
    it writes an ending too (``purchases``)."""
    if known is not None and not any(r.key or r.buy_now for r in requests):
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
            outcomes, left = await _decide_in_transaction(
                auction_id, requests, increments, done, purchases
            )
        except KeyRace:
            continue
        return outcomes, done, Known(left, read_at) if left is not None else None
    raise RuntimeError(f"idempotency keys kept racing on auction {auction_id}")


async def _decide_in_transaction(
    auction_id: int,
    requests: list[BidRequest],
    increments: Increments,
    done: AfterCommit,
    purchases: Purchases | None = None,
) -> tuple[list[Outcome], AuctionState | None]:
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        bidder_ids = sorted({r.bidder.id for r in requests})
        locked = await lock_auction(db, auction_id, bidder_ids)
        if locked is None:
            return [refusal(Reason.not_found) for _ in requests], None
        state, now, blocked = locked
        if state.due_to_start(now):  # its start task is late: the auction opens here first
            state = await _open(db, state, now, done)
        state = replace(state, increments=increments)
        priors = await read_priors(db, requests, now) if any(r.key for r in requests) else {}
        attempts = [
            Attempt(
                bidder=r.bidder,
                amount=r.amount,
                max_amount=r.max_amount,
                blocked=r.bidder.id in blocked,
                key=r.key,
                prior=priors.get((r.bidder.id, r.key)) if r.key else None,
                buy_now=r.buy_now,
            )
            for r in requests
        ]
        decision = decide(state, attempts, now)
        outcomes = await record_decision(db, decision, done, now)
        if decision.purchase is not None:
            if purchases is None:  # the assembly gives every app process one
                raise RuntimeError("a Buy It Now reached a bid desk that cannot end auctions")
            outcomes = await purchases.write(db, decision, outcomes, done, now)
        await remember_keys(db, auction_id, attempts, outcomes, now)
    return outcomes, decision.after


async def _open(
    db: Connection, state: AuctionState, now: datetime, done: AfterCommit
) -> AuctionState:
    """Start the auction whose row this transaction holds (``lifecycle.starts``, the one start
    transaction's work): its ``auction_started`` goes before the bids decided next."""
    opened = await start_in_transaction(db, [state.auction_id], done, others=False, now=now)
    if not opened.started:
        return state
    return replace(state, status=AuctionStatus.active.value, seq=opened.started[0].seq)


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
        if written is None:  # due to start: only under the lock
            return None
        if not isinstance(written, Moved):
            outcomes, left = written
            return outcomes, Known(left, read_at), "moved" if tries else "known"
        if not written.rows:  # the auction is gone: the locked way says so
            return None
        row = written.rows[0]
        was = (state_columns(state), blocked)
        state = state_from_row(spoken, state.auction_id, row)
        blocked = set(int_array(row["blocked"]))
        read_at = time.monotonic()  # everything the lock reads, read with the row locked
        if (state_columns(state), blocked) == was:
            return None
    return None


async def _write_on_state(
    engine: Engine,
    spoken: Dialect,
    state: AuctionState,
    requests: list[BidRequest],
    blocked: set[int],
    done: AfterCommit,
) -> tuple[list[Outcome], AuctionState] | Moved | None:
    """One try of ``_decide_on_known``: the outcomes and the state left, or, when the row did
    not hold, what it holds now (the row of ``current_row``); None, writing nothing, for a
    scheduled auction whose start time has come (it opens under the lock)."""
    now = utc_now()
    if state.due_to_start(now):
        return None
    attempts = [Attempt(r.bidder, r.amount, r.max_amount, r.bidder.id in blocked) for r in requests]
    decision = decide(state, attempts, now)
    bidders = sorted({r.bidder.id for r in requests})
    unchanged, params = still_holds(spoken, state, [b for b in bidders if b not in blocked])
    current = current_row(spoken, state.auction_id, bidders)
    if not decision.changed:  # refusals only: they hold if the row is as judged
        held: Statement = (f"SELECT a.id FROM auction AS a WHERE {unchanged}", params)
        checked = await write_if_held(engine, held, [], current=current)
        if isinstance(checked, Moved):
            return checked
        return decision.outcomes, decision.after
    # On PostgreSQL the bids are also judged against the database's clock: a bid decided just
    # before the end but arriving after it goes the locked way, and is refused there.
    still_open = " AND a.end_time > clock_timestamp()" if spoken.postgres else ""
    writes = BatchWrites(spoken, decision, now, (unchanged + still_open, params))
    returned = await write_if_held(
        engine, writes.auction, writes.rest, *writes.returning, current=current
    )
    if isinstance(returned, Moved):
        return returned
    return writes.finish(decision, done, returned), decision.after
