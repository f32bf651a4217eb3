#!/usr/bin/env python
"""Hot-auction benchmark: bidders racing on one auction, against the database's own limit.

Run by hand from the project root (not a test)::

    uv run python bench/hot_auction.py                 # production topology, 1 app process
    uv run python bench/hot_auction.py --workers 2     # 2 app processes behind one port
    uv run python bench/hot_auction.py --embedded      # SQLite + in-memory, one process

Each of ``--bidders`` WebSocket bidders bids its last seen price + 1..50 as soon as its previous
bid is answered (``bid_accepted`` or ``error``), for ``--seconds``; the rate limit is off. One
spectator records every broadcast. Before the race, ``../shared/bench/limits/pgbench_anchor.sh``
measures what PostgreSQL commits per second for the minimal bid transaction on one hot row, so
the figure and the limit come from the same run. Afterwards the database is checked: stored =
broadcast, ``seq`` 1..n without gaps, exactly one winning bid, price = highest bid, and bids
sorted by (time, id) strictly increasing in amount.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import (
    PG_ADMIN_DSN,
    PRICE_IN_ERROR,
    ROOT,
    CpuMeter,
    Server,
    base_env,
    create_data,
    free_port,
    get_ok,
    run_fast,
)

ANCHOR = ROOT.parent / "shared" / "bench" / "limits" / "pgbench_anchor.sh"
RESULTS_DIR = ROOT / "bench" / "results"
_decode = msgspec.json.decode


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Racer:
    ws: ClientConnection
    price: Decimal
    answers: asyncio.Queue[tuple[str, float, dict[str, Any]]] = field(default_factory=asyncio.Queue)

    async def read(self, seen: list[dict[str, Any]] | None = None) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                now = time.perf_counter()
                message = _decode(raw)
                kind = message["type"]
                if kind == "new_bid":
                    self.price = max(self.price, Decimal(message["data"]["amount"]))
                    if seen is not None:
                        seen.append(message["data"])
                elif kind == "bid_accepted":
                    self.price = max(self.price, Decimal(message["data"]["current_price"]))
                    self.answers.put_nowait(("accepted", now, message))
                elif kind == "error":
                    if match := PRICE_IN_ERROR.search(message["message"]):
                        self.price = max(self.price, Decimal(match.group(1)))
                    self.answers.put_nowait((message.get("code", "error"), now, message))


async def race(
    args: argparse.Namespace, rooms: list[tuple[str, list[tuple[str, str]]]], server: Server
) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """Each room (its spectator's URL, and its bidders' URLs and tokens) raced at once; the
    figures add up the rooms, and each room's broadcasts are returned. How many client sockets
    each app process holds is reported: behind one shared port (``--shared-port``) the kernel
    deals them out as it likes, and a run whose bidders all landed on one process measures one
    process."""

    async def open_racer(url: str, token: str | None) -> Racer:
        ws = await connect(
            f"{url}?token={token}" if token else url, compression=None, max_queue=None
        )
        status = _decode(await ws.recv())
        return Racer(ws, Decimal(status["data"]["current_price"]))

    racers: list[Racer] = []
    spectators: list[Racer] = []
    for watched, bidders in rooms:  # one room at a time: a connect storm is not measured
        racers += await asyncio.gather(*(open_racer(url, t) for url, t in bidders))
        spectators.append(await open_racer(watched, None))
    held = client_sockets(server)
    seen: list[list[dict[str, Any]]] = [[] for _ in rooms]
    readers = [asyncio.create_task(r.read()) for r in racers]
    readers += [asyncio.create_task(s.read(seen[i])) for i, s in enumerate(spectators)]
    outcomes: Counter[str] = Counter()
    latency: list[float] = []
    rng = random.Random(args.seed)

    async def run(racer: Racer, deadline: float, proxy: bool) -> None:
        while time.perf_counter() < deadline:
            amount = racer.price + rng.randint(1, 50)
            # A proxy bidder also sets a secret maximum a little above its bid.
            ceiling = f',"max_amount":{amount + rng.randint(1, 200):.2f}' if proxy else ""
            sent = time.perf_counter()
            await racer.ws.send(f'{{"type":"place_bid","amount":{amount:.2f}{ceiling}}}')
            try:
                kind, at, _ = await asyncio.wait_for(racer.answers.get(), 10)
            except TimeoutError:
                outcomes["timeout"] += 1
                return
            outcomes[kind] += 1
            latency.append(at - sent)

    started = time.perf_counter()
    per_room = len(racers) // len(rooms)
    proxies = round(per_room * args.proxy_share)
    await asyncio.gather(
        *(run(r, started + args.seconds, i % per_room < proxies) for i, r in enumerate(racers))
    )
    elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)  # the last broadcasts
    for r in [*racers, *spectators]:
        await r.ws.close()
    for reader in readers:
        reader.cancel()
    attempts = sum(outcomes.values())
    return {
        "seconds": round(elapsed, 2),
        "attempts": attempts,
        "outcomes": dict(outcomes),
        "accepted_per_s": round(outcomes["accepted"] / elapsed, 1),
        "attempts_per_s": round(attempts / elapsed, 1),
        "client_sockets_per_app_process": held,
        "answer_ms": {
            "p50": round(1000 * (pct(latency, 0.5) or 0), 2),
            "p99": round(1000 * (pct(latency, 0.99) or 0), 2),
            "max": round(1000 * max(latency, default=0), 2),
        },
    }, seen


async def check_database(
    db_url: str, auction_id: int, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    """Anomalies: every one must be 0."""
    if db_url.startswith("sqlite"):
        import sqlite3

        path = db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            db.row_factory = sqlite3.Row
            bids = [
                dict(r) for r in db.execute("SELECT * FROM bid WHERE auction = ?", (auction_id,))
            ]
            auction = dict(
                db.execute("SELECT * FROM auction WHERE id = ?", (auction_id,)).fetchone()
            )
    else:
        conn = await asyncpg.connect(db_url)
        try:
            bids = [
                dict(r)
                for r in await conn.fetch("SELECT * FROM bid WHERE auction = $1", auction_id)
            ]
            auction = dict(await conn.fetchrow("SELECT * FROM auction WHERE id = $1", auction_id))
        finally:
            await conn.close()
    money = lambda v: Decimal(str(v)).quantize(Decimal("0.01"))  # noqa: E731

    def stamp(value: Any) -> datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    by_time = sorted(bids, key=lambda b: (stamp(b["bid_time"]), b["id"]))
    amounts = [money(b["amount"]) for b in by_time]
    broadcast = [(d["seq"], money(d["amount"])) for d in seen]
    stored = sorted((b["seq"], money(b["amount"])) for b in bids)
    return {
        "bids": len(bids),
        "stored_not_broadcast": len(set(stored) - set(broadcast)),
        "broadcast_not_stored": len(set(broadcast) - set(stored)),
        "broadcast_out_of_order": sum(1 for a, b in pairwise(broadcast) if b[0] != a[0] + 1),
        "seq_gaps": int([s for s, _ in stored] != list(range(1, len(stored) + 1))),
        "winning_bids_not_one": abs(sum(bool(b["is_winning"]) for b in bids) - 1) if bids else 0,
        "price_not_max": int(bool(amounts) and money(auction["current_price"]) != max(amounts)),
        # sorted by (time, id) the amounts rise; equal only where a proxy tied (reported apart)
        "times_out_of_order": sum(1 for a, b in pairwise(amounts) if b < a),
        "proxy_ties": sum(1 for a, b in pairwise(amounts) if b == a),
    }


def client_sockets(server: Server) -> list[int]:
    """The established TCP connections to the app's ports that each app process holds."""
    ports: set[int] = {server.port}
    ports |= {int(p) for p in re.findall(r"PORT=(\d+)", " ".join(server.command))}
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) in ports:
                    inodes[fields[9]] = 1
    counts = []
    for pid in server.worker_pids():
        links = []
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        counts.append(sum(1 for link in links if link[8:-1] in inodes))
    return sorted(counts)


def batch_mix(port: int, attempts: int) -> dict[str, Any]:
    """How the server wrote the race's batches (``/metrics``): on the state it knew, or under the
    row lock (also when that state had moved), the attempts per batch and the mean time a batch
    took from decision to commit. Explains a run that stands out."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    paths: dict[str, float] = {}
    decision: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("madeinpk_bid_batches_total{"):
            paths[name.split('path="')[1].split('"')[0]] = float(value)
        elif name in ("madeinpk_bid_decision_seconds_sum", "madeinpk_bid_decision_seconds_count"):
            decision[name.rsplit("_", 1)[1]] = float(value)
    batches = sum(paths.values())
    return {
        "by_path": {k: int(v) for k, v in sorted(paths.items())},
        "attempts_per_batch": round(attempts / batches, 2) if batches else None,
        "decision_ms_mean": (
            round(1000 * decision["sum"] / decision["count"], 3) if decision.get("count") else None
        ),
    }


def pgbench_limit(secs: int) -> dict[str, float]:
    """tps of the minimal bid transaction with 1 and 8 clients (the database's limit)."""
    out = subprocess.run(
        ["bash", str(ANCHOR)],
        env={**os.environ, "CLIENTS": "1 8", "SECS": str(secs), "SCRIPTS": "bid_minimal"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "bid_minimal":
            result[f"clients_{parts[1]}"] = float(parts[2])
    return result


async def main(args: argparse.Namespace) -> int:
    tag = secrets.token_hex(4)
    scratch = Path(f"/tmp/hot-auction-{tag}")
    scratch.mkdir(parents=True)
    embedded = args.embedded
    db_name = f"bench_{tag}"
    db_url = (
        f"sqlite:///{scratch / 'bench.sqlite3'}"
        if embedded
        else f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    )
    env = base_env(db_url, scratch, f"bench-{tag}")
    if embedded:
        env.pop("REDIS_URL")
    env["PORT"] = str(free_port())
    env["PROMETHEUS_MULTIPROC_DIR"] = str(scratch / "metrics")  # /metrics adds up the processes
    auction_id = random.SystemRandom().randint(100_000_000, 999_999_999)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "topology": "embedded (SQLite, memory)" if embedded else "production (PostgreSQL, Redis)",
        "app_processes": args.workers,
        "routing": "by auction" if args.route_by_auction else "dealt out",
        "auctions": args.auctions,
        "bidders": args.bidders,
        "proxy_share": args.proxy_share,
    }
    if not embedded and not args.no_pgbench:
        print("pgbench anchor …", flush=True)
        results["pgbench_tps"] = pgbench_limit(args.pgbench_seconds)
    admin = None if embedded else await asyncpg.connect(PG_ADMIN_DSN)
    server = None
    try:
        if admin is not None:
            await admin.execute(f'CREATE DATABASE "{db_name}"')
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "madeinpk", "migrate"], cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        more = tuple(auction_id + i for i in range(1, args.auctions))
        fixture = await create_data(env, args.bidders * args.auctions, auction_id, more)
        server = Server(env, args.workers, scratch / "server.log")
        ports = [server.port]
        if args.workers > 1 and not args.shared_port:
            # One port per app process, each its own ``serve``: the bidders are dealt out evenly.
            ports += [free_port() for _ in range(args.workers - 1)]
            serves = [f"PORT={port} {sys.executable} -m madeinpk serve" for port in ports]
            server.command = ["sh", "-c", " & ".join(serves) + " & wait"]
        server.start()
        await server.wait_ready()
        for port in ports[1:]:  # each of the other processes, on its own port
            url = f"http://127.0.0.1:{port}/api/categories/"
            # Polling another process's port: there is no event to wait on.
            while not await asyncio.to_thread(get_ok, url):  # noqa: ASYNC110
                await asyncio.sleep(0.25)
        auctions = [auction_id, *more]
        tokens = [t for _, t in fixture.bidders]

        def url(i: int, auction: int) -> str:
            # By auction: as a load balancer hashing the auction in the path (nginx
            # ``hash $auction consistent``), an auction's sockets all reach one process.
            port = ports[(auction if args.route_by_auction else i) % len(ports)]
            return f"ws://127.0.0.1:{port}/ws/auction/{auction}/"

        rooms = [
            (
                url(n, a),
                [
                    (url(n * args.bidders + j, a), tokens[n * args.bidders + j])
                    for j in range(args.bidders)
                ],
            )
            for n, a in enumerate(auctions)
        ]
        print(
            f"race: {args.auctions} auction(s) x {args.bidders} bidders, {args.seconds} s …",
            flush=True,
        )
        with server.profiled(args.profile), CpuMeter(server.proc.pid) as cpu:  # type: ignore[union-attr]
            figures, seen = await race(args, rooms, server)
        results["cpu"] = cpu.report()
        results["race"] = figures
        server_cpu = results["cpu"]["cpu_pct_of_one_core"].get("server", 0.0) / 100
        results["server_cpu_ms_per_attempt"] = round(
            1000 * server_cpu * figures["seconds"] / max(1, figures["attempts"]), 3
        )
        results["batches"] = batch_mix(server.port, figures["attempts"])
        checks = [await check_database(db_url, a, s) for a, s in zip(auctions, seen, strict=True)]
        results["anomalies"] = {k: sum(c[k] for c in checks) for k in checks[0]}
        if args.auctions > 1:
            results["auctions_with_anomalies"] = sum(
                any(v for k, v in c.items() if k not in ("bids", "proxy_ties")) for c in checks
            )
            results["accepted_per_auction"] = {
                "min": min(c["bids"] for c in checks),
                "max": max(c["bids"] for c in checks),
            }
        if "pgbench_tps" in results:
            best = max(results["pgbench_tps"].values())
            results["ratio_to_pgbench"] = round(figures["accepted_per_s"] / best, 3)
    finally:
        if server is not None:
            server.stop()
            if args.keep_log or any(
                v
                for k, v in results.get("anomalies", {}).items()
                if k not in ("bids", "proxy_ties")
            ):
                RESULTS_DIR.mkdir(exist_ok=True)
                kept = RESULTS_DIR / f"hot_auction-{tag}-server.log"
                shutil.copy(scratch / "server.log", kept)
                results["server_log"] = str(kept)
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await admin.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(results, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"hot_auction-{stamp}.json").write_text(json.dumps(results, indent=2))
    bad = sum(v for k, v in results.get("anomalies", {}).items() if k not in ("bids", "proxy_ties"))
    return 1 if bad else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="app processes")
    parser.add_argument("--embedded", action="store_true", help="SQLite + memory, 1 process")
    parser.add_argument("--bidders", type=int, default=20, help="bidders per auction")
    parser.add_argument(
        "--auctions", type=int, default=1, help="auctions raced at once, each its own bidders"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-log", action="store_true", help="keep the server log in results/")
    parser.add_argument(
        "--shared-port",
        action="store_true",
        help="with --workers > 1: one port for all (serve --workers N), as in production; by "
        "default each app process gets its own port and the bidders are dealt out evenly",
    )
    parser.add_argument(
        "--route-by-auction",
        action="store_true",
        help="with --workers > 1 and own ports: every socket of an auction goes to one process "
        "(auction id modulo processes), as behind a load balancer that hashes the auction; by "
        "default sockets are dealt out in turn, so half of an auction's bids are forwarded",
    )
    parser.add_argument(
        "--proxy-share", type=float, default=0.0, help="share of bidders that set a maximum"
    )
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--profile", help="py-spy raw stacks of the server to PATH.<pid>.txt")
    args = parser.parse_args()
    if args.embedded and args.workers != 1:
        parser.error("the embedded topology is one process")
    return args


if __name__ == "__main__":
    sys.exit(run_fast(main(parse_args())))
