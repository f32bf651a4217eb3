"""One WebSocket watcher per auction, for the scenarios that time what every watcher is told
(A: ``auction_ended``, C: ``auction_started``).

The watchers are ``bench/clients.py``'s spectators: each stamps a frame when its bytes are read
and parses it afterwards, so when hundreds of auctions are told at once a watcher's figure is
not the load generator's parsing of everyone else's frames."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bench.clients import Spectator, close_all, collect, open_spectator

HOST = "127.0.0.1"
# Handshakes in flight at once: the one app process answers them in turn anyway.
CONNECT_CONCURRENCY = 100


@dataclass
class Told:
    """What one watcher received of one message type (arrival times are epoch seconds)."""

    arrivals: list[float] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    others: Counter[str] = field(default_factory=Counter)  # other types after auction_status

    @property
    def first(self) -> tuple[float, dict[str, Any]] | None:
        return (self.arrivals[0], self.messages[0]) if self.arrivals else None


async def open_watchers(port: int, auction_ids: list[int]) -> list[Spectator]:
    """A watcher per auction, each past its ``auction_status``, all in place before returning
    (closed again if any fails). From here on they only stamp and keep bytes."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(auction_id: int) -> Spectator:
        async with gate:
            url = f"ws://{HOST}:{port}/ws/auction/{auction_id}/"
            return await open_spectator(HOST, port, url, "deflate")

    opened = await asyncio.gather(*(one(i) for i in auction_ids), return_exceptions=True)
    watchers = [w for w in opened if isinstance(w, Spectator)]
    failed = [w for w in opened if not isinstance(w, Spectator)]
    if failed:
        await close_all(watchers)
        raise RuntimeError(f"{len(failed)} of {len(auction_ids)} watchers failed: {failed[0]!r}")
    for w in watchers:
        w.defer = True
    return watchers


async def told(
    watchers: list[Spectator], kind: str, not_before: float, limit_s: float, linger_s: float
) -> list[Told]:
    """Per watcher, every ``kind`` message it received: left alone (only stamping) until the
    epoch time ``not_before``, then read until each has one or ``limit_s`` passed, then
    ``linger_s`` longer so that a second copy would be seen too."""
    await asyncio.sleep(max(0.0, not_before - time.time()))
    await collect(watchers, 1, limit_s, kind=kind)
    await asyncio.sleep(linger_s)
    to_epoch = time.time() - time.perf_counter()
    out = []
    for w in watchers:
        w.replay()
        got = Told()
        for at, text in w.messages[1:]:  # [0] is the auction_status
            message = msgspec.json.decode(text)
            if message.get("type") == kind:
                got.arrivals.append(at + to_epoch)
                got.messages.append(message)
            else:
                got.others[str(message.get("type"))] += 1
        out.append(got)
    return out
