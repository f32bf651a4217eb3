"""The in-process fan-out hub: ordering, the connect-time gap, and slow watchers."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from litestar import WebSocket

from madeinpk.auctions.live import AuctionRoom, LiveAuctions, Watcher


class FakeSocket:
    """Records what the hub sends; a ``stalled`` socket never finishes a send (a dead client)."""

    def __init__(self, stalled: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.stalled = stalled

    async def send(self, event: dict[str, Any]) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.sent.append(event["text"])

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def room_with(
    *sockets: FakeSocket, backlog: int = 256, gap: float = 0.5
) -> tuple[AuctionRoom, list[Watcher]]:
    hub = LiveAuctions(cast(Any, None), max_backlog=backlog, gap_timeout=gap)
    room = AuctionRoom(hub, 1)
    hub.rooms[1] = room
    watchers = [Watcher(1, cast(WebSocket[Any, Any, Any], s)) for s in sockets]
    room.watchers.update(watchers)
    return room, watchers


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_events_are_released_in_sequence_order() -> None:
    socket = FakeSocket()
    room, [watcher] = room_with(socket)
    room.start_at(10)
    watcher.ready(10)
    for seq in (13, 11, 12, 14):
        room.receive(seq, f"bid {seq}")
    await settle()
    assert socket.sent == ["bid 11", "bid 12", "bid 13", "bid 14"]


async def test_a_missing_event_is_skipped_after_the_gap_timeout() -> None:
    socket = FakeSocket()
    room, [watcher] = room_with(socket, gap=0.05)
    room.start_at(0)
    watcher.ready(0)
    room.receive(2, "bid 2")  # bid 1's publisher died after commit
    await settle()
    assert socket.sent == []
    await asyncio.sleep(0.1)
    room.receive(3, "bid 3")
    room.receive(1, "bid 1 (late)")  # dropped: newer bids are already out
    await settle()
    assert socket.sent == ["bid 2", "bid 3"]


async def test_events_in_the_snapshot_are_not_sent_again() -> None:
    early, late = FakeSocket(), FakeSocket()
    room, [first, second] = room_with(early, late)
    room.receive(6, "bid 6")  # arrives before anyone knows where the stream stands
    room.start_at(5)
    first.ready(5)
    second.ready(6)  # this watcher's snapshot already counted bid 6
    room.receive(7, "bid 7")
    await settle()
    assert early.sent == ["bid 6", "bid 7"]
    assert late.sent == ["bid 7"]


async def test_a_slow_watcher_is_closed_1013_and_does_not_hold_up_others() -> None:
    fast, slow = FakeSocket(), FakeSocket(stalled=True)
    room, [fast_watcher, slow_watcher] = room_with(fast, slow, backlog=3)
    room.start_at(0)
    for watcher in (fast_watcher, slow_watcher):
        watcher.ready(0)
    for seq in range(1, 8):
        room.receive(seq, f"bid {seq}")
        await settle()
    assert fast.sent == [f"bid {n}" for n in range(1, 8)]
    assert slow.closed == (1013, "Too slow: backlog full")
    assert slow_watcher not in room.watchers and fast_watcher in room.watchers


async def test_an_answer_follows_the_event_it_answers() -> None:
    """``bid_accepted`` reaches the bidder after its own ``new_bid``, whichever comes first."""
    socket = FakeSocket()
    room, [watcher] = room_with(socket)
    room.start_at(3)
    watcher.ready(3)
    watcher.reply_after(5, "accepted 5")  # the commit answered before the broadcast arrived
    room.receive(5, "bid 5")  # waiting for 4
    await settle()
    assert socket.sent == []
    room.receive(4, "bid 4")
    await settle()
    assert socket.sent == ["bid 4", "bid 5", "accepted 5"]
    watcher.reply_after(5, "again 5")  # the event is out already: straight through
    await settle()
    assert socket.sent[-1] == "again 5"


async def test_an_answer_whose_event_never_comes_is_sent_anyway(monkeypatch: Any) -> None:
    monkeypatch.setattr("madeinpk.auctions.live.REPLY_WAIT", 0.05)
    socket = FakeSocket()
    room, [watcher] = room_with(socket)
    room.start_at(0)
    watcher.ready(0)
    watcher.reply_after(1, "accepted 1")  # its publish was lost
    await asyncio.sleep(0.1)
    assert socket.sent == ["accepted 1"]
