#!/usr/bin/env python
"""The machine's own limit for fan-out: one Python process (uvloop, as the app runs) writing one
ready-made WebSocket frame to N connected sockets, read by another process, with no framework,
database or Redis in between.

    uv run python bench/socket_limit.py                # N = 200, 1,000 and 10,000
    uv run python bench/socket_limit.py --watchers 1000 --rounds 20

For each round the writer stamps the time, writes the frame to every socket, and the reader
stamps each socket's arrival (both on CLOCK_MONOTONIC, which all processes of the machine
share). Printed per N: the writer's time per write, and arrival p50 / p99 / max after the
first write. ``live_bench.py``'s fan-out figures divided by these give how close the app is to
what one Python process writing to sockets can do here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import struct
import sys
import time
from pathlib import Path

import uvloop

FRAME_BODY = b'{"type":"new_bid","data":{"auction_id":1,"amount":"2875.00","seq":1}}' * 3


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    header = struct.pack("!BB", 0x81, size) if size < 126 else struct.pack("!BBH", 0x81, 126, size)
    return header + payload


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def reader(port: int, n: int, rounds: int, out: Path) -> None:
    """Open ``n`` connections, stamp each chunk's arrival, write the stamps to ``out``."""
    loop = asyncio.get_running_loop()
    arrivals: list[list[float]] = [[] for _ in range(rounds)]
    done = asyncio.Event()
    count = 0

    class Reader(asyncio.Protocol):
        def __init__(self) -> None:
            self.seen = 0

        def data_received(self, data: bytes) -> None:
            nonlocal count
            at = time.monotonic()
            frames = data.count(b"\x81")  # one frame per round, small enough for one read
            for _ in range(frames):
                if self.seen < rounds:
                    arrivals[self.seen].append(at)
                    self.seen += 1
                    count += 1
            if count >= n * rounds:
                done.set()

    for i in range(0, n, 200):
        await asyncio.gather(
            *(loop.create_connection(Reader, "127.0.0.1", port) for _ in range(min(200, n - i)))
        )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.wait_for(done.wait(), 120)
    out.write_text(json.dumps(arrivals))


async def writer(n: int, rounds: int, gap: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    all_in = asyncio.Event()

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)  # type: ignore[arg-type]
            if len(transports) == n:
                all_in.set()

    server = await loop.create_server(Sink, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    out = Path(f"/tmp/socket-limit-{os.getpid()}.json")
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--reader", str(port), str(n), str(rounds), str(out),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    await child.stdout.readline()
    await asyncio.wait_for(all_in.wait(), 60)
    await asyncio.sleep(1.0)
    frame = text_frame(FRAME_BODY)
    starts, write_us = [], []
    for _ in range(rounds):
        started = time.monotonic()
        for transport in transports:
            transport.write(frame)
        write_us.append((time.monotonic() - started) / n * 1e6)
        starts.append(started)
        await asyncio.sleep(gap)
    await child.wait()
    arrivals = json.loads(out.read_text())
    out.unlink()
    server.close()
    delays = [(at - starts[r]) * 1000 for r in range(rounds) for at in arrivals[r]]
    return {
        "watchers": n,
        "write_us_per_socket": round(sum(write_us) / len(write_us), 1),
        "arrival_p50_ms": round(pct(delays, 0.5), 2),
        "arrival_p99_ms": round(pct(delays, 0.99), 2),
        "arrival_max_ms": round(max(delays), 2),
    }


def main() -> None:
    if sys.argv[1:2] == ["--reader"]:
        port, n, rounds, out = sys.argv[2:6]
        uvloop.run(reader(int(port), int(n), int(rounds), Path(out)))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--watchers", default="200,1000,10000")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--gap", type=float, default=0.2)
    args = p.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for n in (int(x) for x in args.watchers.split(",")):
        print(json.dumps(uvloop.run(writer(n, args.rounds, args.gap))))


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
