"""One watched auction in this process (``hub.LiveAuctions`` keeps them): its subscription, its
events released to the watchers in ``seq`` order, gaps filled from the event log, and its state
kept from the events it releases, so warm connects read no database."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import pairwise
from typing import TYPE_CHECKING

from litestar.channels import Subscriber

from madeinpk.auctions.events import auction_channel, decode_frames
from madeinpk.auctions.live.messages import AuctionStatusData
from madeinpk.auctions.live.room_state import RoomState
from madeinpk.auctions.live.watchers import Watcher
from madeinpk.http.websocket import text_frame
from madeinpk.observability import metrics

if TYPE_CHECKING:
    from madeinpk.auctions.live.hub import LiveAuctions

logger = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
FILL_ATTEMPTS = 10  # a gap the event log cannot fill this many times running is skipped


def _consecutive(events: list[tuple[int, str]]) -> bool:
    return all(b[0] == a[0] + 1 for a, b in pairwise(events))


class AuctionRoom:
    """The watchers of one auction in this process, the ordered stream they share, and the
    auction's state as of the last event released."""

    def __init__(self, hub: LiveAuctions, auction_id: int) -> None:
        self.hub = hub
        self.auction_id = auction_id
        self.watchers: set[Watcher] = set()
        self.expected: int | None = None  # next sequence number to release
        self.pending: dict[int, str] = {}
        self.gap_timer: asyncio.TimerHandle | None = None
        self.subscribed = asyncio.Event()
        self.subscriber: Subscriber | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.state: RoomState | None = None
        self.loading: asyncio.Task[AuctionStatusData | None] | None = None
        self.filling: asyncio.Task[None] | None = None
        self.fill_failures = 0
        self.seen_latest = 0  # the auction's seq at the previous tail check

    async def open(self) -> None:
        # redis-py's pub/sub connects lazily and without a lock: first subscriptions made at
        # the same moment each open a connection, and all but one are never read.
        async with self.hub.subscription_lock:
            self.subscriber = await self.hub.channels.subscribe(
                auction_channel(self.hub.channel_prefix, self.auction_id)
            )
        self.consumer = asyncio.create_task(self._consume(self.subscriber))
        self.subscribed.set()

    async def _consume(self, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            try:
                events, committed_at = decode_frames(raw)
                texts = [(seq, payload.decode()) for seq, payload in events]
            except ValueError:
                logger.warning("Dropping a malformed frame on auction %s", self.auction_id)
                continue
            self.receive_batch(texts, committed_at)

    def receive_batch(self, events: list[tuple[int, str]], committed_at: float | None) -> None:
        """Events in ``seq`` order; the delay from their commit to the sockets is measured for
        those released now (not for copies already released, nor those waiting for a gap)."""
        before = self.expected
        first = events[0][0] if events else None
        if len(events) > 1 and first == before and not self.pending and _consecutive(events):
            self._release(events)
            self.expected = events[-1][0] + 1
        else:
            for seq, text in events:
                self.receive(seq, text)
        if committed_at is not None and self.expected is not None:
            released = [
                s for s, _ in events if (before is None or s >= before) and s < self.expected
            ]
            if released:
                delay = time.time() - committed_at
                for _ in released:
                    metrics.observe_fanout_delay(delay)

    async def status(self, at_least: int = 0) -> AuctionStatusData | None:
        """The shared state: kept, or loaded once for everyone who asks meanwhile.

        ``at_least``: a reconnecting client has seen the events up to there, maybe from another
        process that delivered them to its own watchers and died before publishing them. A
        room behind that reads the database instead of answering older than what the client
        has shown; otherwise the client would be sent those events again once they arrive."""
        status = None
        for _ in range(2):  # a load already on its way may have read just before ``at_least``
            if self.state is not None and self.state.fresh and self.state.status.seq >= at_least:
                return self.state.status
            if self.loading is None:
                self.loading = asyncio.create_task(self._load())
            status = await asyncio.shield(self.loading)
            if status is None or status.seq >= at_least:
                return status
        return status  # ``at_least`` is past the auction's own seq: nothing to replay

    async def _load(self) -> AuctionStatusData | None:
        try:
            for _ in range(3):
                status = await self.hub.load_status(self.auction_id)
                if status is None:
                    return None
                state = RoomState(status, self.hub.state_max_age)
                if self.expected is None:
                    # Read after the subscription was taken: the stream continues from here,
                    # and what arrived meanwhile is released onto this state.
                    self.state = state
                    self.start_at(status.seq)
                else:
                    await self._catch_up(state)
                if not state.stale:
                    self.state = state
                    return state.status
            return status  # ended meanwhile, three times over: serve the database's word
        finally:
            self.loading = None

    async def _catch_up(self, state: RoomState) -> None:
        """A reload can read the database just before an event that the room released while
        the read was on its way; such events come from the log, or new watchers would miss
        them (their snapshot lacks them and the stream is past them)."""
        while self.expected is not None and state.status.seq < self.expected - 1:
            last = state.status.seq
            events = await self.hub.load_events(self.auction_id, last, self.expected - 1)
            for seq, text in events:
                state.apply(seq, text)
            if state.stale or state.status.seq == last:
                return

    def receive(self, seq: int, text: str) -> None:
        if self.expected is None or seq > self.expected:
            if self.expected is None or seq not in self.pending:
                self.pending[seq] = text
            self._schedule_gap_timeout()
        elif seq == self.expected:
            self._release([(seq, text)])
            self.expected = seq + 1
            self._release_contiguous()
        else:  # already released, from the event log or an earlier copy
            logger.debug("Event %s on auction %s already released", seq, self.auction_id)

    def start_at(self, snapshot_seq: int) -> None:
        """The first snapshot tells where the stream stands."""
        if self.expected is not None:
            return
        self.expected = snapshot_seq + 1
        for seq in [s for s in self.pending if s < self.expected]:
            del self.pending[seq]
        self._release_contiguous()

    def _release_contiguous(self) -> None:
        assert self.expected is not None
        while self.expected in self.pending:
            self._release([(self.expected, self.pending.pop(self.expected))])
            self.expected += 1
        if not self.pending and self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    def _schedule_gap_timeout(self) -> None:
        if self.gap_timer is None and self.expected is not None:
            loop = asyncio.get_running_loop()
            self.gap_timer = loop.call_later(self.hub.gap_timeout, self._gap_timeout)

    def _gap_timeout(self) -> None:
        self.gap_timer = None
        if self.pending and self.expected is not None:
            self.fill(min(self.pending) - 1)

    def fill(self, upto: int) -> None:
        """Release events up to ``upto`` from the event log (their publish was lost)."""
        if self.filling is None and self.expected is not None and self.expected <= upto:
            self.filling = asyncio.create_task(self._fill(upto))

    async def _fill(self, upto: int) -> None:
        not_in_log = False
        try:
            while self.expected is not None and self.expected <= upto:
                events = await self.hub.load_events(self.auction_id, self.expected - 1, upto)
                if not events:
                    not_in_log = True
                    break
                logger.info(
                    "Auction %s: events %s..%s filled from the event log",
                    self.auction_id,
                    events[0][0],
                    events[-1][0],
                )
                for seq, text in events:
                    self.receive(seq, text)
            self.fill_failures = 0
        except Exception as exc:
            self.fill_failures += 1
            logger.warning("Auction %s: event log not read (%s)", self.auction_id, exc)
        finally:
            self.filling = None
        if self.pending and self.expected is not None and self.expected not in self.pending:
            if self.fill_failures and self.fill_failures < FILL_ATTEMPTS:
                self._schedule_gap_timeout()
            elif self.fill_failures or not_in_log:
                self._skip_gap()
            else:  # a later gap opened while this one was filled: it gets its own half second
                self._schedule_gap_timeout()

    def _skip_gap(self) -> None:
        """The log cannot give the missing events: go on without them, loudly."""
        assert self.expected is not None
        first = min(self.pending)
        logger.warning(
            "Auction %s: events %s..%s never arrived; skipping",
            self.auction_id,
            self.expected,
            first - 1,
        )
        self.fill_failures = 0
        self.expected = first
        self._release_contiguous()
        if self.pending:
            self._schedule_gap_timeout()

    def _release(self, events: list[tuple[int, str]]) -> None:
        """Consecutive events, in order, to every watcher: each encoded once, the same bytes
        for every socket, and one write per socket for them all."""
        if self.state is not None:
            for seq, text in events:
                self.state.apply(seq, text)
        max_backlog = self.hub.max_backlog
        frames = [text_frame(text.encode()) for _, text in events]
        joined = b"".join(frames)  # a single frame is not copied
        slow = [w for w in self.watchers if not w.offer_run(events, frames, joined, max_backlog)]
        for watcher in slow:
            self.watchers.discard(watcher)
            self.hub.close_later(watcher, TRY_AGAIN_LATER, "Too slow: backlog full")

    async def close(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
        for task in (self.consumer, self.filling):
            if task is not None:
                task.cancel()
        if self.subscriber is not None:
            async with self.hub.subscription_lock:
                await self.hub.channels.unsubscribe(self.subscriber)
