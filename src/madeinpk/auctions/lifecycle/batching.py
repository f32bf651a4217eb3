"""Requests to end auctions in one process, coalesced: the scheduled ending of each auction and
the sweep hand theirs to the process's ``Endings``; while one batch is being written the next
requests wait and go together in the next one, and every batch also takes whatever else is due.
A thousand auctions ending in the same second are thus a few transactions per process, not a
thousand. Across processes the rows are shared out by ``SKIP LOCKED`` (``endings``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from madeinpk.after_commit import Effects
from madeinpk.auctions.lifecycle.endings import BATCH, due_auction_ids, end_auctions
from madeinpk.auctions.lifecycle.outcomes import EndedBatch, OrderWriter
from madeinpk.observability import metrics
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

ENDED = True  # this request's auction was ended by this call
GONE = None  # not active any more: someone else ended it (or it was cancelled)
# Otherwise a request is answered with the auction's end time in force: still active.
Outcome = bool | datetime | None


class Endings:
    """One process's auction endings, coalesced: requests that arrive while a batch is being
    written wait and go together in the next; each batch also ends whatever else is due, and
    the batches go on while they come back full. One batch at a time per process; across
    processes the rows are shared out by ``SKIP LOCKED``."""

    def __init__(self, settings: Settings, effects: Effects, orders: OrderWriter) -> None:
        self.settings, self.effects, self.orders = settings, effects, orders
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
            batch = await end_auctions(self.settings, self.orders, ids)
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
                batch = await end_auctions(
                    self.settings, self.orders, [auction_id], others=False, limit=1
                )
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


async def finish_auction(auction_id: int, endings: Endings) -> bool:
    """End, then tell every watcher and hand the emails to workers. True if this call ended it."""
    return await endings.end(auction_id) is ENDED
