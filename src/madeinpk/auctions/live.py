"""Live fan-out inside one app process.

The channels plugin carries events between processes; this hub takes one subscription per
watched auction and hands each event to that auction's watchers here. It adds what the plugin
does not give:

- **order**: bids commit in database order but are published after commit, by whichever process
  took them, so two events can cross on the way. Each carries its ``seq`` in the auction, and the
  room releases them in that order, skipping a gap only after ``gap_timeout`` (a publisher that
  died between commit and publish).
- **no gap at connect**: a watcher joins *before* its snapshot is read, and then drops the events
  the snapshot already contains, so nothing falls between the two.
- **answers after events**: a bidder's ``bid_accepted`` is held until its own ``new_bid`` has
  been queued to it, so every client sees the broadcast first and the acknowledgement after.
- **isolation**: each watcher has its own bounded backlog and is sent to by its own short-lived
  task; one slow socket never delays the others, and a watcher that falls ``max_backlog`` events
  behind is closed with 1013 rather than silently skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from litestar import WebSocket
from litestar.channels import ChannelsPlugin, Subscriber

from madeinpk import metrics
from madeinpk.auctions.events import auction_channel, decode_frame

logger = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
# How long an answer waits for the event it follows before it is sent anyway (a lost publish).
REPLY_WAIT = 1.0


class Watcher:
    """One socket watching one auction."""

    __slots__ = (
        "_backlog",
        "_held",
        "_sender",
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
        self._backlog: deque[tuple[int | None, str]] = deque()
        self._held: list[tuple[int, str]] = []  # answers waiting for their event
        self._sender: asyncio.Task[None] | None = None

    def offer(self, seq: int | None, text: str, max_backlog: int) -> bool:
        if self.closed:
            return True
        if len(self._backlog) >= max_backlog:
            return False
        self._backlog.append((seq, text))
        if seq is not None and seq > self.queued_seq:
            self.queued_seq = seq
            self._release_held(seq)
        self._wake()
        return True

    def reply_after(self, seq: int, text: str) -> None:
        """Send ``text`` to this socket once event ``seq`` has been queued to it."""
        if self.closed:
            return
        if seq <= max(self.queued_seq, self.min_seq or 0):
            self._backlog.append((None, text))
            self._wake()
            return
        self._held.append((seq, text))
        asyncio.get_running_loop().call_later(REPLY_WAIT, self._release_held, seq)

    def _release_held(self, upto: int) -> None:
        ready = [text for seq, text in self._held if seq <= upto]
        if not ready or self.closed:
            return
        self._held = [(seq, text) for seq, text in self._held if seq > upto]
        self._backlog.extend((None, text) for text in ready)
        self._wake()

    def ready(self, snapshot_seq: int) -> None:
        self.min_seq = snapshot_seq
        self.queued_seq = max(self.queued_seq, snapshot_seq)
        self._wake()

    def _wake(self) -> None:
        if self._sender is None and self.min_seq is not None and self._backlog:
            self._sender = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._backlog and not self.closed:
                seq, text = self._backlog.popleft()
                if seq is not None and self.min_seq is not None and seq <= self.min_seq:
                    continue  # already part of the snapshot this watcher was sent
                await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except Exception:  # the socket went away mid-send; its receive loop cleans up
            self.closed = True
        finally:
            self._sender = None
        if self._backlog and not self.closed:
            self._wake()

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self._backlog.clear()
        try:
            await self.socket.close(code=code, reason=reason)
        except Exception:
            logger.debug("Closing a watcher that already left", exc_info=True)

    def stop(self) -> None:
        self.closed = True
        self._backlog.clear()
        self._held.clear()
        if self._sender is not None:
            self._sender.cancel()


class AuctionRoom:
    """The watchers of one auction in this process, and the ordered stream they share."""

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
                seq, payload = decode_frame(raw)
                text = payload.decode()
            except ValueError:
                logger.warning("Dropping a malformed frame on auction %s", self.auction_id)
                continue
            self.receive(seq, text)

    def receive(self, seq: int, text: str) -> None:
        if self.expected is None or seq > self.expected:
            self.pending[seq] = text
            self._schedule_gap_timeout()
        elif seq == self.expected:
            self._release(seq, text)
            self.expected = seq + 1
            self._release_contiguous()
        else:
            logger.warning("Late event %s on auction %s dropped", seq, self.auction_id)

    def start_at(self, snapshot_seq: int) -> None:
        """The first watcher's snapshot tells where the stream stands."""
        if self.expected is not None:
            return
        self.expected = snapshot_seq + 1
        for seq in [s for s in self.pending if s < self.expected]:
            del self.pending[seq]
        self._release_contiguous()

    def _release_contiguous(self) -> None:
        assert self.expected is not None
        while self.expected in self.pending:
            self._release(self.expected, self.pending.pop(self.expected))
            self.expected += 1
        if not self.pending and self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    def _schedule_gap_timeout(self) -> None:
        if self.gap_timer is None:
            loop = asyncio.get_running_loop()
            self.gap_timer = loop.call_later(self.hub.gap_timeout, self._skip_gap)

    def _skip_gap(self) -> None:
        self.gap_timer = None
        if not self.pending:
            return
        first = min(self.pending)
        if self.expected is not None:
            logger.warning(
                "Auction %s: events %s..%s never arrived; skipping",
                self.auction_id,
                self.expected,
                first - 1,
            )
        self.expected = first
        self._release_contiguous()
        if self.pending:
            self._schedule_gap_timeout()

    def _release(self, seq: int | None, text: str) -> None:
        for watcher in list(self.watchers):
            if not watcher.offer(seq, text, self.hub.max_backlog):
                self.watchers.discard(watcher)
                self.hub.close_later(watcher, TRY_AGAIN_LATER, "Too slow: backlog full")

    async def close(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
        if self.consumer is not None:
            self.consumer.cancel()
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
    ) -> None:
        self.channels = channels
        self.channel_prefix = channel_prefix
        self.max_backlog = max_backlog
        self.gap_timeout = gap_timeout
        self.rooms: dict[int, AuctionRoom] = {}
        self.subscription_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

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
            try:
                await room.open()
            except BaseException:
                await self.leave(watcher)
                raise
        else:
            room.watchers.add(watcher)
            await room.subscribed.wait()
        return watcher

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
