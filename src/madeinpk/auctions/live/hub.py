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
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import WebSocket
from litestar.channels import ChannelsPlugin

from madeinpk.auctions.bidding.rules import Increments
from madeinpk.auctions.live.messages import AuctionStatusData
from madeinpk.auctions.live.replay import latest_seqs, stored_events
from madeinpk.auctions.live.room_state import for_viewer
from madeinpk.auctions.live.rooms import AuctionRoom
from madeinpk.auctions.live.snapshot import auction_status
from madeinpk.auctions.live.watchers import Watcher
from madeinpk.observability import metrics

logger = logging.getLogger(__name__)

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
