"""The in-process fan-out hub: ordering, the connect-time gap, and slow watchers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from litestar import WebSocket
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from madeinpk.auctions.live.hub import LiveAuctions
from madeinpk.auctions.live.messages import AuctionStatusData, ProductInfo, SellerInfo
from madeinpk.auctions.live.rooms import AuctionRoom
from madeinpk.auctions.live.watchers import Watcher
from madeinpk.http.websocket import FRAME_WRITER, text_frame
from madeinpk.timestamps import utc_now


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
    *sockets: FakeSocket,
    backlog: int = 256,
    gap: float = 0.5,
    log: dict[int, str] | None = None,
) -> tuple[AuctionRoom, list[Watcher]]:
    """A room of auction 1 whose event log is ``log`` (seq -> frame)."""
    stored = log if log is not None else {}

    async def load_events(auction_id: int, after: int, upto: int) -> list[tuple[int, str]]:
        return [(seq, stored[seq]) for seq in sorted(stored) if after < seq <= upto]

    hub = LiveAuctions(
        cast(Any, None), max_backlog=backlog, gap_timeout=gap, load_events=load_events
    )
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


async def test_a_missing_event_is_filled_from_the_event_log() -> None:
    """Bid 1's publisher died between commit and publish: the log has it."""
    socket = FakeSocket()
    room, [watcher] = room_with(socket, gap=0.05, log={1: "bid 1", 2: "bid 2"})
    room.start_at(0)
    watcher.ready(0)
    room.receive(2, "bid 2")
    await settle()
    assert socket.sent == []
    await asyncio.sleep(0.1)
    room.receive(3, "bid 3")
    room.receive(1, "bid 1 (late)")  # the copy that did arrive late is not sent again
    await settle()
    assert socket.sent == ["bid 1", "bid 2", "bid 3"]


async def test_a_gap_that_opens_while_another_is_filled_is_filled_too() -> None:
    """Two app processes' publishes overtaking each other on a busy machine: bids 3 and 4 go
    missing while the log is being read for bid 1. They are in the log as well, so they are
    read from it, not skipped (which lost them for every watcher of this process)."""
    socket = FakeSocket()
    stored = {seq: f"bid {seq}" for seq in range(1, 6)}
    reading = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_log(auction_id: int, after: int, upto: int) -> list[tuple[int, str]]:
        reading.set()
        await go_on.wait()
        return [(seq, stored[seq]) for seq in sorted(stored) if after < seq <= upto]

    room, [watcher] = room_with(socket, gap=0.02)
    room.hub.load_events = slow_log
    room.start_at(0)
    watcher.ready(0)
    room.receive(2, "bid 2")
    await reading.wait()  # the gap before bid 2 is being filled
    room.receive(5, "bid 5")
    go_on.set()
    for _ in range(100):
        if len(socket.sent) == 5:
            break
        await asyncio.sleep(0.01)
    assert socket.sent == ["bid 1", "bid 2", "bid 3", "bid 4", "bid 5"]


async def test_a_gap_the_log_cannot_fill_is_skipped() -> None:
    socket = FakeSocket()
    room, [watcher] = room_with(socket, gap=0.05, log={})
    room.start_at(0)
    watcher.ready(0)
    room.receive(2, "bid 2")
    await asyncio.sleep(0.15)
    room.receive(3, "bid 3")
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
    monkeypatch.setattr("madeinpk.auctions.live.watchers.REPLY_WAIT", 0.05)
    socket = FakeSocket()
    room, [watcher] = room_with(socket)
    room.start_at(0)
    watcher.ready(0)
    watcher.reply_after(1, "accepted 1")  # its publish was lost
    await asyncio.sleep(0.1)
    assert socket.sent == ["accepted 1"]


class GatedSocket(FakeSocket):
    """A socket whose transport buffer is full until ``gate`` is set (uvicorn's flow control)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, event: dict[str, Any]) -> None:
        await self.gate.wait()
        self.sent.append(event["text"])


async def test_a_write_that_must_wait_keeps_the_order_and_spares_the_others() -> None:
    fast, gated = FakeSocket(), GatedSocket()
    room, watchers = room_with(fast, gated)
    room.start_at(0)
    for watcher in watchers:
        watcher.ready(0)
    room.receive(1, "bid 1")
    assert fast.sent == ["bid 1"]  # written at once, without a task or a loop turn
    watchers[1].reply_after(2, "accepted 2")
    room.receive(2, "bid 2")
    room.receive(3, "bid 3")
    await settle()
    assert fast.sent == ["bid 1", "bid 2", "bid 3"] and gated.sent == []
    gated.gate.set()
    await settle()
    assert gated.sent == ["bid 1", "bid 2", "accepted 2", "bid 3"]
    room.receive(4, "bid 4")  # the buffer drained: straight through again
    assert gated.sent[-1] == "bid 4"


async def test_a_lost_last_event_is_found_by_the_tail_check() -> None:
    """No later event reveals the gap: the auction's own seq does."""
    socket = FakeSocket()
    log = {1: "bid 1", 2: "bid 2"}
    checks: list[list[int]] = []

    async def load_events(auction_id: int, after: int, upto: int) -> list[tuple[int, str]]:
        return [(seq, log[seq]) for seq in sorted(log) if after < seq <= upto]

    async def load_seqs(auction_ids: list[int]) -> dict[int, int]:
        checks.append(auction_ids)
        return dict.fromkeys(auction_ids, max(log))

    hub = LiveAuctions(
        cast(Any, None), tail_check=0.02, load_events=load_events, load_seqs=load_seqs
    )
    room = AuctionRoom(hub, 1)
    hub.rooms[1] = room
    watcher = Watcher(1, cast(WebSocket[Any, Any, Any], socket))
    room.watchers.add(watcher)
    room.start_at(0)
    watcher.ready(0)
    room.receive(1, "bid 1")  # bid 2 committed, but its publisher died
    task = asyncio.create_task(hub._check_tails())
    await asyncio.sleep(0.1)
    assert socket.sent == ["bid 1", "bid 2"]
    assert checks and all(ids == [1] for ids in checks)
    hub.rooms.clear()
    await task


def status_at(seq: int, price: str = "2500.00") -> AuctionStatusData:
    now = utc_now()
    return AuctionStatusData(
        auction_id=1,
        product=ProductInfo(id=1, name="Shawl", description="", condition="new", category=None,
                            images=[]),
        seller=SellerInfo(id=2, username="seller", email="seller@example.com", brand_name="",
                          biography="", is_verified=False, average_rating="0.00",
                          total_feedbacks=0),
        starting_price="2500.00", current_price=price, start_time=now - timedelta(hours=1),
        end_time=now + timedelta(hours=1), status="active", is_active=True, winner=None,
        total_bids=seq, latest_bids=[], seq=seq, server_time=now, min_increment="0.01",
        min_next_bid=price, reserve_met=None, soft_close_seconds=0, my_max_bid=None,
    )  # fmt: skip


def new_bid(seq: int, amount: str) -> str:
    data = (
        f'"bidder":"buyer","amount":"{amount}","time":"2026-01-01T00:00:00Z",'
        f'"current_price":"{amount}","seq":{seq},"auto":false,"total_bids":{seq},'
        f'"min_next_bid":"{amount}"'
    )
    return f'{{"type":"new_bid","data":{{{data}}},"server_time":"2026-01-01T00:00:00Z"}}'


async def test_first_connects_share_one_load_and_events_keep_the_state_current() -> None:
    loads: list[int] = []
    gate = asyncio.Event()

    async def load_status(auction_id: int) -> AuctionStatusData:
        loads.append(auction_id)
        await gate.wait()
        return status_at(3)

    hub = LiveAuctions(cast(Any, None), load_status=load_status)
    room = AuctionRoom(hub, 1)
    hub.rooms[1] = room
    watchers = [Watcher(1, cast(WebSocket[Any, Any, Any], FakeSocket())) for _ in range(20)]
    room.watchers.update(watchers)
    first = [asyncio.create_task(hub.status(w, show_seller_email=False)) for w in watchers]
    await settle()
    room.receive(4, new_bid(4, "2600.00"))  # arrives while the state is being read
    gate.set()
    statuses = await asyncio.gather(*first)
    assert loads == [1]
    # Event 4 arrived during the read: it is in the state they all got (and skipped as an event).
    assert {s.seq for s in statuses if s} == {4} and all(s and not s.seller.email for s in statuses)
    warm = await hub.status(watchers[0], show_seller_email=True)
    assert warm is not None and warm.seq == 4 and warm.current_price == "2600.00"
    assert warm.seller.email == "seller@example.com"
    assert [b.amount for b in warm.latest_bids] == ["2600.00"] and warm.total_bids == 4
    room.receive(5, new_bid(5, "2700.00"))
    warm = await hub.status(watchers[1], show_seller_email=False)
    assert warm is not None and (warm.seq, warm.current_price) == (5, "2700.00")
    assert loads == [1]  # warm connects read nothing


async def test_a_reload_catches_up_with_events_released_while_it_read() -> None:
    """The database was read just before event 5 committed; the room released 5 meanwhile."""
    log = {5: new_bid(5, "2700.00")}
    room: AuctionRoom

    async def load_status(auction_id: int) -> AuctionStatusData:
        if room.state is not None:  # the reload: event 5 is released while it reads
            room.receive(5, log[5])
        return status_at(4, "2600.00")

    async def load_events(auction_id: int, after: int, upto: int) -> list[tuple[int, str]]:
        return [(seq, log[seq]) for seq in sorted(log) if after < seq <= upto]

    hub = LiveAuctions(
        cast(Any, None), load_status=load_status, load_events=load_events, state_max_age=0
    )
    room = AuctionRoom(hub, 1)
    hub.rooms[1] = room
    watcher = Watcher(1, cast(WebSocket[Any, Any, Any], FakeSocket()))
    room.watchers.add(watcher)
    assert (await room.status()) is not None  # first load: seq 4
    reloaded = await room.status()  # max age 0: read again
    assert reloaded is not None and (reloaded.seq, reloaded.current_price) == (5, "2700.00")


class FramedSocket(FakeSocket):
    """A socket served by ``LeanWebSocketProtocol``: frames go straight to its transport unless
    ``full`` (its buffer is over uvicorn's flow-control mark)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[bytes] = []
        self.full = False
        self.scope = {"extensions": {FRAME_WRITER: self.write_frame}}

    def write_frame(self, frame: bytes) -> bool:
        if self.full:
            return False
        self.frames.append(frame)
        return True


async def test_events_are_written_as_one_shared_frame_straight_to_the_transport() -> None:
    framed, plain = FramedSocket(), FakeSocket()
    room, watchers = room_with(framed, plain)
    room.start_at(0)
    for watcher in watchers:
        watcher.ready(0)
    room.receive(1, "bid 1")
    assert framed.frames == [text_frame(b"bid 1")] and framed.sent == []
    assert plain.sent == ["bid 1"]  # no writer (compression, another server): the ASGI send
    framed.full = True
    room.receive(2, "bid 2")
    assert framed.sent == ["bid 2"]  # declined: the ordinary send, which waits for the buffer
    framed.full = False
    watchers[0].reply_after(2, "accepted 2")
    assert framed.frames[-1] == text_frame(b"accepted 2")


async def test_a_batch_of_events_is_one_write_per_socket() -> None:
    """A hot auction's batch (several bids, a soft-close extension) costs each socket one
    system call; a watcher that cannot take it now gets the events one by one, in order."""
    framed, plain, holding = FramedSocket(), FakeSocket(), FramedSocket()
    room, [first, second, held] = room_with(framed, plain, holding)
    room.start_at(0)
    first.ready(0)
    second.ready(0)
    first.reply_after(2, "accepted 2")
    room.receive_batch([(1, "bid 1"), (2, "bid 2"), (3, "bid 3")], None)
    assert framed.frames == [
        text_frame(b"bid 1") + text_frame(b"bid 2") + text_frame(b"bid 3"),
        text_frame(b"accepted 2"),
    ]
    assert plain.sent == ["bid 1", "bid 2", "bid 3"]
    assert holding.frames == []  # no snapshot yet: the events wait for it
    held.ready(1)  # its snapshot already had event 1
    assert holding.frames == [text_frame(b"bid 2"), text_frame(b"bid 3")]
    framed.full = True  # over the flow-control mark: the ordinary sends, in order
    room.receive_batch([(4, "bid 4"), (5, "bid 5")], None)
    assert framed.sent == ["bid 4", "bid 5"]
    room.receive_batch([(5, "bid 5"), (6, "bid 6")], None)  # 5 again (its channel copy)
    assert framed.sent == ["bid 4", "bid 5", "bid 6"] and room.expected == 7


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_is_what_a_websocket_client_reads(size: int) -> None:
    payload = b"x" * size
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as parsed:
        next(parser)
    frame = parsed.value.value
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
    assert not reader.buffer  # nothing left over: the length was encoded exactly
