"""Telling watchers the truth when their live stream broke.

Redis pub/sub keeps no history: events published while this process's subscription was down are
gone. A watcher who stays connected would show a stale price with nothing to say so. Instead,
every watcher of an interrupted channel is closed with **1012 (Service Restart)**: the client
reconnects, as it does for any close, and the new connection starts from a fresh
``auction_status`` read from the database. 1012 rather than 1011 (internal error) because
nothing failed for this socket: the stream behind it restarted, and reconnecting is the cure.
(A later change adds seq-based replay, so a reconnect can resume instead of reload.)

The app factory wires ``close_interrupted_watchers`` to the Redis backend's interruption notices
(the memory backend never breaks).
"""

from __future__ import annotations

import logging

from madeinpk.auctions.events import auction_channel
from madeinpk.auctions.live.hub import LiveAuctions
from madeinpk.observability import metrics

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012
INTERRUPTED_REASON = "Live updates interrupted; reconnect"


def close_interrupted_watchers(hub: LiveAuctions, channels: frozenset[str]) -> int:
    """Close (in the background) every watcher of ``channels`` in this process."""
    closed = 0
    for room in list(hub.rooms.values()):
        if auction_channel(hub.channel_prefix, room.auction_id) not in channels:
            continue
        for watcher in list(room.watchers):
            room.watchers.discard(watcher)
            hub.close_later(watcher, SERVICE_RESTART, INTERRUPTED_REASON)
            closed += 1
    if closed:
        metrics.record_watchers_interrupted(closed)
        logger.warning("Closed %d watcher(s) of %d interrupted channel(s)", closed, len(channels))
    return closed
