"""The load generator's sockets: bidders on the ``websockets`` asyncio client, spectators on
its Sans-I/O protocol (timestamped as bytes arrive), and the checks of what they received."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

import msgspec
from bench.harness import PRICE_IN_ERROR
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Close, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

_decode = msgspec.json.decode


@dataclass
class Socket:
    ws: ClientConnection
    status: dict[str, Any]
    connect_s: float


async def open_socket(url: str, compression: str | None, limit_s: float = 30.0) -> Socket:
    started = time.perf_counter()
    ws = await connect(
        url,
        compression=compression,
        ping_interval=None,
        open_timeout=limit_s,
        close_timeout=5,
        max_queue=None,
    )
    try:
        first = _decode(await asyncio.wait_for(ws.recv(), limit_s))
    except BaseException:
        await ws.close()
        raise
    elapsed = time.perf_counter() - started
    if first.get("type") != "auction_status":
        await ws.close()
        raise RuntimeError(f"first message was not auction_status: {first}")
    return Socket(ws, first["data"], elapsed)


class Spectator(asyncio.Protocol):
    """A watcher without a token, on the ``websockets`` library's Sans-I/O ``ClientProtocol``
    (same handshake, same permessage-deflate offer as ``websockets.connect``).

    ``data_received`` takes the time before anything else. With ``defer`` set it then only keeps
    the bytes, so when a bid reaches 1,000 sockets at once each is stamped within microseconds of
    being read, instead of after every other socket's frame parsing and inflating (which costs
    the one-process load generator ~50 us per message, i.e. tens of ms over 1,000 watchers).
    ``replay()`` parses the kept bytes afterwards; each message keeps its bytes' arrival time.
    """

    def __init__(self, url: str, compression: str | None) -> None:
        extensions = enable_client_permessage_deflate(None) if compression == "deflate" else None
        self.proto = ClientProtocol(parse_uri(url), extensions=extensions, max_size=2**20)
        loop = asyncio.get_running_loop()
        self.first: asyncio.Future[float] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.defer = False
        self.chunks: list[tuple[float, bytes]] = []
        self.messages: list[tuple[float, str]] = []
        self.close_code: int | None = None
        self.status: dict[str, Any] = {}
        self.connect_s = 0.0
        self.deflate = False  # negotiated, once the handshake is done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._write()

    def _write(self) -> None:
        assert self.transport is not None
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.defer:
            self.chunks.append((now, data))
        else:
            self._feed(now, data)

    def _feed(self, at: float, data: bytes) -> None:
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                if self.proto.handshake_exc is not None and not self.first.done():
                    self.first.set_exception(self.proto.handshake_exc)
                self.deflate = any(e.name == "permessage-deflate" for e in self.proto.extensions)
            elif event.opcode is Opcode.TEXT:
                self.messages.append((at, event.data.decode()))
                if not self.first.done():
                    self.first.set_result(at)
            elif event.opcode is Opcode.CLOSE:
                self.close_code = Close.parse(event.data).code if event.data else 1005
        self._write()

    def replay(self) -> None:
        chunks, self.chunks = self.chunks, []
        for at, data in chunks:
            self._feed(at, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.first.set_exception(
                ConnectionError(f"closed before a first message (code {self.close_code})")
            )
        if not self.lost.done():
            self.lost.set_result(None)

    async def close(self) -> None:
        self.defer = False
        self.replay()
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            self.proto.send_close(1000)
            self._write()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), 3)
        except TimeoutError:
            self.transport.abort()


async def open_spectator(
    host: str, port: int, url: str, compression: str | None, limit_s: float = 30.0
) -> Spectator:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    _, spectator = await asyncio.wait_for(
        loop.create_connection(lambda: Spectator(url, compression), host, port), limit_s
    )
    try:
        at = await asyncio.wait_for(asyncio.shield(spectator.first), limit_s)
        first = _decode(spectator.messages[0][1])
        if first.get("type") != "auction_status":
            raise RuntimeError(f"first message was not auction_status: {first}")
    except BaseException:
        if spectator.transport is not None:
            spectator.transport.abort()
        raise
    spectator.connect_s = at - started
    spectator.status = first["data"]
    return spectator


async def open_many(
    host: str, port: int, url: str, n: int, concurrency: int, compression: str | None
) -> tuple[list[Spectator], list[str]]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one() -> Spectator | None:
        async with gate:
            try:
                return await open_spectator(host, port, url, compression)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return None

    results = await asyncio.gather(*(one() for _ in range(n)))
    return [s for s in results if s is not None], errors


async def close_all(sockets: list[Spectator]) -> None:
    for i in range(0, len(sockets), 500):
        await asyncio.gather(*(s.close() for s in sockets[i : i + 500]), return_exceptions=True)


class Bidder:
    """An authenticated socket: a reader task tracks the price and settles the pending bid."""

    def __init__(self, sock: Socket, username: str) -> None:
        self.ws = sock.ws
        self.username = username
        self.price = Decimal(sock.status["current_price"])
        self.seen: list[tuple[float, Decimal, str]] = []  # every new_bid: (time, amount, bidder)
        self.unexpected: list[Any] = []
        self.close_code: int | None = None
        self._pending: asyncio.Future[tuple[str, float, str]] | None = None
        self._pending_amount: Decimal | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                message = _decode(raw)
                kind = message.get("type")
                if kind == "new_bid":
                    data = message["data"]
                    amount = Decimal(data["amount"])
                    self.seen.append((now, amount, data["bidder"]))
                    self.price = max(self.price, amount)
                    if (
                        self._pending is not None
                        and not self._pending.done()
                        and data["bidder"] == self.username
                        and amount == self._pending_amount
                    ):
                        self._pending.set_result(("accepted", now, ""))
                elif kind == "error":
                    text = message.get("message", "")
                    if match := PRICE_IN_ERROR.search(text):
                        self.price = max(self.price, Decimal(match.group(1)))
                    if self._pending is not None and not self._pending.done():
                        self._pending.set_result(("rejected", now, text))
                    else:
                        self.unexpected.append(message)
                else:
                    self.unexpected.append(message)
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None
        finally:
            if self._pending is not None and not self._pending.done():
                self._pending.set_result(("closed", time.perf_counter(), ""))

    async def bid(self, amount: Decimal, limit_s: float = 5.0) -> tuple[str, float, str]:
        """Send a bid; wait for its answer: ('accepted'|'rejected'|'timeout'|'closed', s, msg)."""
        loop = asyncio.get_running_loop()
        self._pending = loop.create_future()
        self._pending_amount = amount
        started = time.perf_counter()
        try:
            await self.ws.send(f'{{"type":"place_bid","amount":{amount:.2f}}}')
            kind, at, text = await asyncio.wait_for(self._pending, limit_s)
            return kind, at - started, text
        except TimeoutError:
            return "timeout", time.perf_counter() - started, ""
        except ConnectionClosed:
            return "closed", time.perf_counter() - started, ""
        finally:
            self._pending = None
            self._pending_amount = None

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await self._reader


def stream_check(seen_amounts: list[Decimal], expected: list[Decimal]) -> dict[str, int]:
    """Compare one watcher's new_bid amounts with the accepted bids, in price (= commit) order."""
    counts = Counter(seen_amounts)
    expected_set = set(expected)
    return {
        "missing": sum(1 for a in expected if a not in counts),
        "duplicated": sum(c - 1 for c in counts.values() if c > 1),
        "unknown": sum(1 for a in counts if a not in expected_set),
        "out_of_order": sum(1 for a, b in pairwise(seen_amounts) if b <= a),
    }


def merge_checks(checks: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    bad = 0
    for c in checks:
        total.update(c)
        bad += any(c.values())
    return {
        **{k: total[k] for k in ("missing", "duplicated", "unknown", "out_of_order")},
        "watchers_with_problems": bad,
        "watchers": len(checks),
    }


async def collect(
    watchers: list[Spectator], bids: int, limit_s: float, kind: str = "new_bid"
) -> None:
    """Parse what the watchers kept as bytes, and go on reading live until each has ``bids``
    messages of type ``kind`` or ``limit_s`` has passed (stragglers)."""
    deadline = time.perf_counter() + limit_s
    needle = f'"{kind}"'
    while True:
        for w in watchers:
            w.defer = False
            w.replay()
        counts = [sum(needle in text for _, text in w.messages) for w in watchers]
        if min(counts, default=0) >= bids or time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.2)
