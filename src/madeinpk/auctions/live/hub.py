"""Live fan-out inside one app process.

The channels plugin carries events between processes; this hub takes one subscription per
watched auction and hands each event to that auction's watchers here. It adds what the plugin
does not give:

- **order**: bids commit in database order but are published after commit, by whichever process
  took them, so two events can cross on the way. Each carries its ``seq`` in the auction, and the
  room releases them in that order.
- **nothing lost**: a gap that does not close within ``gap_timeout`` (a publisher that died
  between commit and publish) is filled from the event log, and so is a stream that stays behind
  the auction's own ``seq`` for ``tail_check`` seconds (the *last* event's publish was lost).
- **no gap at connect**: a watcher joins *before* its snapshot is read, and then drops the events
  the snapshot already contains, so nothing falls between the two.
- **warm connects read no database**: each room keeps its auction's state, loaded once (watchers
  connecting together share the load) and brought up to date by the events it releases.
- **answers after events**: a bidder's ``bid_accepted`` is held until its own ``new_bid`` has
  been queued to it, so every client sees the broadcast first and the acknowledgement after.
- **fan-out at the cost of a write**: an event's WebSocket frame is encoded once and written
  to each socket's transport directly (``lean_websockets``), with no task per delivery; a socket
  without that writer gets the ASGI send, run synchronously. Only a socket whose transport buffer
  is full (uvicorn's flow control) gets a task, which finishes that write while later events
  wait in the watcher's bounded backlog; a watcher that falls ``max_backlog`` events behind is
  closed with 1013 rather than silently skipped, and never delays the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from itertools import pairwise
from typing import Any, cast

from litestar import WebSocket
from litestar.channels import ChannelsPlugin, Subscriber

from madeinpk.auctions.bidding.rules import Increments
from madeinpk.auctions.events import auction_channel, decode_frames
from madeinpk.auctions.live.replay import latest_seqs, stored_events
from madeinpk.auctions.live.room_state import RoomState, for_viewer
from madeinpk.auctions.live.snapshot import auction_status
from madeinpk.auctions.schemas import AuctionStatusData
from madeinpk.http.websocket import FRAME_WRITER, text_frame
from madeinpk.observability import metrics

logger = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
# How long an answer waits for the event it follows before it is sent anyway (a lost publish).
REPLY_WAIT = 1.0
FILL_ATTEMPTS = 10  # a gap the event log cannot fill this many times running is skipped

EventLoader = Callable[[int, int, int], Awaitable[list[tuple[int, str]]]]
SeqReader = Callable[[list[int]], Awaitable[dict[int, int]]]
StatusLoader = Callable[[int], Awaitable[AuctionStatusData | None]]


def shared_status(increments: Increments = ()) -> StatusLoader:
    """The loader of the part of ``auction_status`` every watcher shares (no viewer: no one's
    maximum; the seller's email, which ``for_viewer`` removes for spectators)."""

    async def load(auction_id: int) -> AuctionStatusData | None:
        return await auction_status(
            auction_id, viewer_id=None, increments=increments, show_seller_email=True
        )

    return load


def _write_now(coro: Coroutine[Any, Any, None]) -> Any:
    """Run an ASGI send until it finishes or first waits. Returns ``_DONE`` when it finished
    (the usual case: the frame went into the transport), else what it waits on."""
    try:
        return coro.send(None)
    except StopIteration:
        return _DONE


_DONE = object()


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Carry on a send that ``_write_now`` started and that had to wait."""
    while True:
        try:
            if waiting is None:  # a bare yield: give the loop a turn
                await asyncio.sleep(0)
            else:
                # What a Task does with a future its coroutine yields, before waiting on it.
                waiting._asyncio_future_blocking = False
                await waiting
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:
            pass  # the send sees the same outcome when it resumes
        waiting = _write_now(coro)
        if waiting is _DONE:
            return


def _consecutive(events: list[tuple[int, str]]) -> bool:
    return all(b[0] == a[0] + 1 for a, b in pairwise(events))


class Watcher:
    """One socket watching one auction."""

    __slots__ = (
        "_backlog",
        "_flusher",
        "_held",
        "_write_frame",
        "auction_id",
        "closed",
        "min_seq",
        "queued_seq",
        "socket",
    )

    def __init__(self, auction_id: int, socket: WebSocket[Any, Any, Any]) -> None:
        self.auction_id = auction_id
        self.socket = socket
        self.min_seq: int | None = None  # set once the snapshot is sent; None means "hold"
        self.queued_seq = 0  # the highest event seq this watcher has been given
        self.closed = False
        # Created only when needed: most watchers never hold anything (memory per watcher).
        self._backlog: list[tuple[int | None, str]] | None = None
        self._held: list[tuple[int, str]] | None = None  # answers waiting for their event
        self._flusher: asyncio.Task[None] | None = None
        extensions = getattr(socket, "scope", {}).get("extensions") or {}
        self._write_frame: Callable[[bytes], bool] | None = extensions.get(FRAME_WRITER)

    def offer(
        self, seq: int | None, text: str, max_backlog: int, frame: bytes | None = None
    ) -> bool:
        """Queue or write one frame; False when the backlog is full (the watcher is too slow)."""
        if self.closed:
            return True
        if seq is not None and self.min_seq is not None and seq <= self.min_seq:
            return True  # already part of the snapshot this watcher was sent
        if self.min_seq is None or self._flusher is not None:
            backlog = self._backlog if self._backlog is not None else []
            if len(backlog) >= max_backlog:
                return False
            backlog.append((seq, text))
            self._backlog = backlog
        else:
            self._write(text, frame)
        if seq is not None and seq > self.queued_seq:
            self.queued_seq = seq
            self._release_held(seq)
        return True

    def offer_run(
        self, events: list[tuple[int, str]], frames: list[bytes], joined: bytes, max_backlog: int
    ) -> bool:
        """Consecutive events at once (``joined``: their frames end to end): one write (one
        system call) when the watcher can take them all straight away, else one by one as
        ``offer``."""
        if (
            self.closed
            or self.min_seq is None
            or self._flusher is not None
            or self._write_frame is None
            or events[0][0] <= self.min_seq
            or not self._write_frame(joined)
        ):
            return all(
                self.offer(seq, text, max_backlog, frame)
                for (seq, text), frame in zip(events, frames, strict=True)
            )
        last = events[-1][0]
        if last > self.queued_seq:
            self.queued_seq = last
            self._release_held(last)
        return True

    def reply(self, text: str) -> None:
        """An answer to this socket's own message, after whatever already waits for it."""
        if not self.closed:
            self._push(text)

    def reply_after(self, seq: int, text: str) -> None:
        """Send ``text`` to this socket once event ``seq`` has been queued to it."""
        if self.closed:
            return
        if seq <= max(self.queued_seq, self.min_seq or 0):
            self._push(text)
            return
        self._held = [*(self._held or ()), (seq, text)]
        asyncio.get_running_loop().call_later(REPLY_WAIT, self._release_held, seq)

    def _release_held(self, upto: int) -> None:
        if not self._held or self.closed:
            return
        ready = [text for seq, text in self._held if seq <= upto]
        self._held = [(seq, text) for seq, text in self._held if seq > upto] or None
        for text in ready:
            self._push(text)

    def _push(self, text: str) -> None:
        """An answer: after whatever is already waiting, never dropped for the backlog bound."""
        if self.min_seq is None or self._flusher is not None:
            self._backlog = [*(self._backlog or ()), (None, text)]
        else:
            self._write(text)

    def ready(self, snapshot_seq: int) -> None:
        self.min_seq = snapshot_seq
        self.queued_seq = max(self.queued_seq, snapshot_seq)
        self._flush()

    def _write(self, text: str, frame: bytes | None = None) -> None:
        if self.closed:
            return
        if self._write_frame is not None and self._write_frame(
            frame if frame is not None else text_frame(text.encode())
        ):
            return
        coro = cast(
            Coroutine[Any, Any, None],
            self.socket.send({"type": "websocket.send", "text": text, "bytes": None}),
        )
        try:
            waiting = _write_now(coro)
        except Exception:  # the socket went away mid-send; its receive loop cleans up
            self.closed = True
            return
        if waiting is not _DONE:  # the transport buffer is full: finish in the background
            self._flusher = asyncio.create_task(self._drain(coro, waiting))

    def _flush(self) -> None:
        """Write what waited, until a write has to wait itself."""
        while self._backlog and self._flusher is None and not self.closed:
            seq, text = self._backlog.pop(0)
            if seq is not None and self.min_seq is not None and seq <= self.min_seq:
                continue
            self._write(text)
        if not self._backlog:
            self._backlog = None

    async def _drain(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            await _finish(coro, waiting)
            while self._backlog and not self.closed:
                seq, text = self._backlog.pop(0)
                if seq is not None and self.min_seq is not None and seq <= self.min_seq:
                    continue
                await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except Exception:  # the socket went away mid-send; its receive loop cleans up
            self.closed = True
        finally:
            self._flusher = None
            if not self._backlog:
                self._backlog = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self._backlog = None
        try:
            await self.socket.close(code=code, reason=reason)
        except Exception:
            logger.debug("Closing a watcher that already left", exc_info=True)

    def stop(self) -> None:
        self.closed = True
        self._backlog = None
        self._held = None
        if self._flusher is not None:
            self._flusher.cancel()


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


class LiveAuctions:
    """The hub: rooms appear with their first watcher and go with their last."""

    def __init__(
        self,
        channels: ChannelsPlugin,
        *,
        channel_prefix: str = "madeinpk",
        max_backlog: int = 256,
        gap_timeout: float = 0.5,
        tail_check: float = 1.0,
        state_max_age: float = 10.0,
        load_events: EventLoader = stored_events,
        load_seqs: SeqReader = latest_seqs,
        load_status: StatusLoader | None = None,
    ) -> None:
        self.channels = channels
        self.channel_prefix = channel_prefix
        self.max_backlog = max_backlog
        self.gap_timeout = gap_timeout
        self.tail_check = tail_check
        self.state_max_age = state_max_age
        self.load_events = load_events
        self.load_seqs = load_seqs
        self.load_status = load_status or shared_status()
        self.rooms: dict[int, AuctionRoom] = {}
        self.subscription_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._tails: asyncio.Task[None] | None = None

    def deliver(
        self, auction_id: int, events: list[tuple[int, bytes]], committed_at: float
    ) -> None:
        """Events this process committed, straight to its own watchers of the auction; the copy
        that comes back through the channels is then already released and is dropped."""
        room = self.rooms.get(auction_id)
        if room is not None:
            room.receive_batch([(seq, p.decode()) for seq, p in events], committed_at)

    def close_later(self, watcher: Watcher, code: int, reason: str) -> None:
        task = asyncio.create_task(watcher.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def join(self, auction_id: int, socket: WebSocket[Any, Any, Any]) -> Watcher:
        metrics.watcher_joined()
        watcher = Watcher(auction_id, socket)
        room = self.rooms.get(auction_id)
        if room is None:
            room = self.rooms[auction_id] = AuctionRoom(self, auction_id)
            room.watchers.add(watcher)
            if self._tails is None:
                self._tails = asyncio.create_task(self._check_tails())
            try:
                await room.open()
            except BaseException:
                await self.leave(watcher)
                raise
        else:
            room.watchers.add(watcher)
            await room.subscribed.wait()
        return watcher

    async def status(
        self, watcher: Watcher, *, show_seller_email: bool, at_least: int = 0
    ) -> AuctionStatusData | None:
        """The watcher's ``auction_status``: the room's state plus what is this viewer's own;
        never before event ``at_least`` when the auction has it (see ``AuctionRoom.status``)."""
        room = self.rooms.get(watcher.auction_id)
        shared = await room.status(at_least) if room is not None else None
        return for_viewer(shared, show_seller_email=show_seller_email) if shared else None

    def ready(self, watcher: Watcher, snapshot_seq: int) -> None:
        room = self.rooms.get(watcher.auction_id)
        if room is not None:
            room.start_at(snapshot_seq)
        watcher.ready(snapshot_seq)

    async def leave(self, watcher: Watcher) -> None:
        metrics.watcher_left()
        watcher.stop()
        room = self.rooms.get(watcher.auction_id)
        if room is None:
            return
        room.watchers.discard(watcher)
        if not room.watchers and self.rooms.get(watcher.auction_id) is room:
            del self.rooms[watcher.auction_id]
            await room.close()

    async def _check_tails(self) -> None:
        """Every ``tail_check`` seconds, one query for every watched auction's ``seq``: a room
        still behind what the database had at the previous check lost an event's publish."""
        try:
            while self.rooms:
                await asyncio.sleep(self.tail_check)
                rooms = [r for r in self.rooms.values() if r.expected is not None]
                try:
                    latest = await self.load_seqs([r.auction_id for r in rooms])
                except Exception as exc:
                    logger.warning("Watched auctions' seq not read (%s)", exc)
                    continue
                for room in rooms:
                    assert room.expected is not None
                    if room.expected <= room.seen_latest and not room.pending:
                        room.fill(room.seen_latest)
                    room.seen_latest = latest.get(room.auction_id, 0)
        finally:
            self._tails = None
