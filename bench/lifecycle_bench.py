#!/usr/bin/env python
"""Auction-ending benchmark for MadeInPK Live, in the production topology.

Run by hand from the project root (not a pytest test)::

    uv run python bench/lifecycle_bench.py             # everything, about 3 minutes
    uv run python bench/lifecycle_bench.py --help      # counts, worker variants, profiling

It creates a throw-away PostgreSQL database, migrates it with ``python -m madeinpk migrate``,
starts one app process (uvicorn), ``taskiq worker madeinpk.tasks:broker --workers N`` and exactly
one ``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1`` (all on Redis db 14 and
a private task queue, each in its own process group), and measures:

* **Scenario A**: 20 auctions ending within one second (T + i*40 ms), each with a WebSocket
  watcher; latency = arrival of ``auction_ended`` - that auction's end time. Repeated 3 times with
  different sub-second phases of T (the scheduler ticks on whole seconds).
* **Scenario B**: 1,000 auctions with one common end time; time from that end time until every
  one is ``ended`` in the database (polled every 100 ms), and the consistency of what the endings
  wrote (one order per auction with bids, notifications, outbox emails).

The whole thing is repeated per ``--workers`` value (default 2 then 1; only the worker process is
restarted). Everything is cleaned up at the end, also on failure: process groups killed, Redis
db 14 flushed, the database dropped ``WITH (FORCE)``. Results: a table on stdout and
``bench/results/lifecycle_bench-<timestamp>.json`` (git-ignored). See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import free_port, log, pct  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET_KEY = "bench-secret-key-123456"
SITE_URL = "http://bench.local"
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGETS = {"A_max_latency_s": 1.0, "B_all_ended_s": 10.0}


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": r3(min(values) if values else None),
        "p50": r3(pct(values, 50)),
        "p90": r3(pct(values, 90)),
        "max": r3(max(values) if values else None),
        "mean": r3(statistics.fmean(values) if values else None),
    }


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


class Proc:
    """One process we start, in its own session/process group, output to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def text(self, since_start: bool = True) -> str:
        try:
            with self.log_path.open("rb") as f:
                if since_start:
                    f.seek(self._offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def read_from(self, offset: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    async def wait_log(self, line: str, count: int = 1, limit_s: float = 60) -> float:
        assert self.proc is not None
        started = time.monotonic()
        while self.text().count(line) < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.text()[-3000:]}")
            if time.monotonic() - started > limit_s:
                raise RuntimeError(f"{self.name} not ready after {limit_s}s; see {self.log_path}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 8 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # Children left in the group (the worker's processes) get the KILL too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def proc_table() -> dict[int, tuple[str, int, int, int]]:
    """pid -> (comm, ppid, pgrp, utime+stime ticks)."""
    table: dict[int, tuple[str, int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        close = stat.rfind(")")
        comm = stat[stat.find("(") + 1 : close]
        fields = stat[close + 2 :].split()
        table[int(entry)] = (
            comm,
            int(fields[1]),
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
        )
    return table


class CpuMeter:
    """CPU used per group of processes over an interval, as % of one core."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups  # name -> process group id
        self.start: dict[int, tuple[str, int, int, int]] = {}
        self.t0 = 0.0

    def begin(self) -> None:
        self.start, self.t0 = proc_table(), time.perf_counter()
        self.sched0 = self._schedstat(self.start)
        self.sys0 = _system_ticks()

    def _schedstat(self, table: dict[int, tuple[str, int, int, int]]) -> dict[int, tuple[int, int]]:
        """pid -> (ns on CPU, ns runnable but waiting for a CPU) for our process groups."""
        ours = set(self.groups.values())
        out: dict[int, tuple[int, int]] = {}
        for pid, (_, _, pgrp, _) in table.items():
            if pgrp in ours:
                with contextlib.suppress(OSError, ValueError):
                    with open(f"/proc/{pid}/schedstat") as f:
                        run_ns, wait_ns, _ = (int(x) for x in f.read().split())
                    out[pid] = (run_ns, wait_ns)
        return out

    def report(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        end = proc_table()
        sched1 = self._schedstat(end)
        sys1 = _system_ticks()
        sys_delta = [b - a for a, b in zip(self.sys0, sys1, strict=False)]
        all_ticks = max(1, sum(sys_delta))
        by_group: dict[str, list[int]] = {}
        for pid, (run_ns, wait_ns) in sched1.items():
            group = next(n for n, pg in self.groups.items() if pg == end[pid][2])
            r0, w0 = self.sched0.get(pid, (0, 0))
            acc = by_group.setdefault(group, [0, 0])
            acc[0] += run_ns - r0
            acc[1] += wait_ns - w0
        by_pgrp = {pg: name for name, pg in self.groups.items()}
        used: Counter[str] = Counter()
        for pid, (comm, _, pgrp, ticks) in end.items():
            before = self.start.get(pid)
            delta = ticks - (before[3] if before else 0)
            if delta <= 0:
                continue
            if pgrp in by_pgrp:
                group = by_pgrp[pgrp]
            elif pid == os.getpid():
                group = "bench"
            elif comm.startswith("postgres"):
                group = "postgres"
            elif comm.startswith("redis"):
                group = "redis"
            else:
                group = "other"
            used[group] += delta
        return {
            "wall_s": round(wall, 2),
            "cpu_pct_of_one_core": {
                g: round(100 * t / CLK_TCK / wall, 1) for g, t in used.most_common()
            },
            "machine_busy_pct": round(
                100 * (all_ticks - sys_delta[3] - sys_delta[4]) / all_ticks, 1
            ),
            # schedstat: time our processes were runnable but waiting for a CPU (all of their
            # processes summed, as % of the wall time), next to the time they ran.
            "run_vs_runqueue_wait_pct": {
                g: {"ran": round(100 * r / 1e9 / wall, 1), "waited": round(100 * w / 1e9 / wall, 1)}
                for g, (r, w) in by_group.items()
            },
        }


def _system_ticks() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


async def wait_quiet(groups: dict[str, int], max_s: float, threshold: float) -> float:
    """Wait (up to max_s) until processes that are not ours, PostgreSQL or Redis use less than
    `threshold` % of one core over a second; return the last measured figure."""
    deadline = time.monotonic() + max_s
    while True:
        meter = CpuMeter(groups)
        meter.begin()
        await asyncio.sleep(1.0)
        other = meter.report()["cpu_pct_of_one_core"].get("other", 0.0)
        if other < threshold or time.monotonic() > deadline:
            return float(other)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------------------------
# Log parsing (taskiq's format: [asctime][logger][LEVEL][process] message)
# --------------------------------------------------------------------------------------------

TS = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]"
SCHED_SEND = re.compile(TS + r".*Sending task (\S+) with schedule_id (\S+?)\.?$", re.M)
SCHED_UPDATE = re.compile(TS + r".*Started schedule update\.", re.M)
WORKER_LINE = re.compile(TS + r"\[([^\]]+)\]\[(\w+)\s*\]\[([^\]]+)\] (.*)$", re.M)
EXECUTING = re.compile(r"Executing task (\S+) with ID: (\S+)")
ENDED = re.compile(r"Auction (\d+) ended")


def ts(value: str) -> float:
    """taskiq's asctime (local time, milliseconds) as a Unix timestamp."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class WorkerLog:
    executing: list[tuple[float, str, str]] = field(default_factory=list)  # (t, task, process)
    ended: dict[int, float] = field(default_factory=dict)  # auction id -> first "ended" line
    ended_lines: Counter[int] = field(default_factory=Counter)


def parse_worker(text: str) -> WorkerLog:
    out = WorkerLog()
    for m in WORKER_LINE.finditer(text):
        t, process, message = ts(m.group(1)), m.group(4), m.group(5)
        if e := EXECUTING.search(message):
            out.executing.append((t, e.group(1), process))
        elif e := ENDED.search(message):
            aid = int(e.group(1))
            out.ended_lines[aid] += 1
            out.ended.setdefault(aid, t)
    return out


def parse_scheduler_sends(text: str) -> dict[str, float]:
    sends: dict[str, float] = {}
    for m in SCHED_SEND.finditer(text):
        sends.setdefault(m.group(3), ts(m.group(1)))
    return sends


def problems_in(text: str, limit: int = 40) -> list[str]:
    """Tracebacks, errors and warnings, as exact lines (first `limit`)."""
    lines = text.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if (
            "Traceback" in line
            or re.search(r"\b(ERROR|CRITICAL|WARNING|Exception|Error:)\b", line)
            or "[WARNING" in line
            or "[ERROR" in line
        ):
            found.append(line.rstrip())
            if "Traceback" in line:  # keep the traceback's last line (the exception) too
                for follow in lines[i + 1 : i + 60]:
                    if follow and not follow.startswith((" ", "\t")):
                        found.append("    ... " + follow.rstrip())
                        break
        if len(found) >= limit:
            break
    return found


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class Users:
    seller_id: int
    seller_name: str
    buyers: list[tuple[int, str]]  # (id, username)


@dataclass
class Spec:
    """One auction as created, and what its ending must produce."""

    name: str
    end_time: datetime
    starting: Decimal
    bids: list[tuple[int, str, Decimal]]  # (bidder id, username, amount), ascending amounts
    id: int = 0

    @property
    def winner(self) -> tuple[int, str, Decimal] | None:
        return self.bids[-1] if self.bids else None

    @property
    def final_price(self) -> Decimal:
        return self.bids[-1][2] if self.bids else self.starting

    @property
    def losers(self) -> set[int]:
        return {b[0] for b in self.bids} - {self.bids[-1][0]} if self.bids else set()

    @property
    def expected_rows(self) -> int:
        """Notifications (= outbox emails): winner, each distinct loser, seller; or seller only."""
        return (2 + len(self.losers)) if self.bids else 1


async def create_users(n_buyers: int) -> Users:
    from piccolo.apps.user.tables import BaseUser

    from madeinpk.accounts.tables import Role, SellerProfile, UserProfile

    now = datetime.now(UTC)
    tag = secrets.token_hex(3)
    password = BaseUser.hash_password("bench-password-1")  # once: 600k PBKDF2 rounds
    names = [f"lc_seller_{tag}"] + [f"lc_buyer{i}_{tag}" for i in range(n_buyers)]
    rows = await BaseUser.insert(
        *[
            BaseUser(
                username=n,
                email=f"{n}@example.com",
                password=password,
                first_name="Bench",
                last_name="User",
                active=True,
                admin=False,
                superuser=False,
            )
            for n in names
        ]
    ).returning(BaseUser.id, BaseUser.username)
    ids = {r["username"]: r["id"] for r in rows}
    await UserProfile.insert(
        *[
            UserProfile(
                user=ids[n],
                role=(Role.seller if n == names[0] else Role.buyer).value,
                phone_number="",
                profile_picture="",
                is_blocked=False,
                failed_payment_count=0,
                created_at=now,
            )
            for n in names
        ]
    )
    await SellerProfile.insert(
        SellerProfile(
            user=ids[names[0]],
            social_media_links="{}",
            is_verified=False,
            average_rating=Decimal("0.00"),
            total_feedbacks=0,
            created_at=now,
            updated_at=now,
        )
    )
    return Users(ids[names[0]], names[0], [(ids[n], n) for n in names[1:]])


def plan(
    users: Users, end_times: list[datetime], rng: random.Random, prefix: str, bids_cycle: list[int]
) -> list[Spec]:
    specs = []
    for i, end in enumerate(end_times):
        starting = Decimal(2500 + 10 * rng.randint(0, 50)).quantize(Decimal("0.01"))
        n = bids_cycle[i % len(bids_cycle)]
        bids = []
        for j in range(n):
            bidder = rng.choice(users.buyers)
            bids.append((bidder[0], bidder[1], starting + Decimal(100 * (j + 1))))
        specs.append(Spec(f"{prefix} item {i}", end, starting, bids))
    return specs


async def insert_auctions(users: Users, specs: list[Spec], chunk: int = 500) -> None:
    """Product + Auction rows as tests/factories.make_auction writes them, plus Bid rows."""
    from madeinpk.auctions.tables import Auction, Bid
    from madeinpk.catalog.tables import Product

    now = datetime.now(UTC)
    for k in range(0, len(specs), chunk):
        part = specs[k : k + chunk]
        products = await Product.insert(
            *[
                Product(
                    seller=users.seller_id,
                    category=None,
                    name=s.name,
                    description="",
                    condition="new",
                    created_at=now,
                    updated_at=now,
                )
                for s in part
            ]
        ).returning(Product.id, Product.name)  # type: ignore[attr-defined]
        product_of = {r["name"]: r["id"] for r in products}
        auctions = await Auction.insert(
            *[
                Auction(
                    product=product_of[s.name],
                    starting_price=s.starting,
                    current_price=s.final_price,
                    bid_count=len(s.bids),
                    start_time=now - timedelta(hours=1),
                    end_time=s.end_time,
                    status="active",
                    winner=None,
                    created_at=now,
                    updated_at=now,
                )
                for s in part
            ]
        ).returning(Auction.id, Auction.product)  # type: ignore[attr-defined]
        auction_of = {r["product"]: r["id"] for r in auctions}
        for s in part:
            s.id = auction_of[product_of[s.name]]
        bid_rows = [
            Bid(
                auction=s.id,
                bidder=bidder,
                amount=amount,
                bid_time=now - timedelta(minutes=30) + timedelta(seconds=j),
                is_winning=j == len(s.bids) - 1,
            )
            for s in part
            for j, (bidder, _, amount) in enumerate(s.bids)
        ]
        for b in range(0, len(bid_rows), 1000):
            await Bid.insert(*bid_rows[b : b + 1000])


async def verify(conn: asyncpg.Connection, specs: list[Spec], seller_id: int) -> dict[str, Any]:
    """What every ending must have written, checked against the plan."""
    ids = [s.id for s in specs]
    by_id = {s.id: s for s in specs}
    auctions = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, status, winner, current_price FROM auction WHERE id = ANY($1)", ids
        )
    }
    orders = await conn.fetch(
        "SELECT auction, buyer, seller, total_amount, status FROM auction_order "
        "WHERE auction = ANY($1)",
        ids,
    )
    orders_per: Counter[int] = Counter(o["auction"] for o in orders)
    notes = dict(
        await conn.fetch(
            "SELECT auction, count(*) FROM notification WHERE auction = ANY($1) GROUP BY auction",
            ids,
        )
    )
    emails = dict(
        await conn.fetch(
            "SELECT split_part(dedupe_key, ':', 2)::int AS a, count(*) FROM outbox_email "
            "WHERE CASE WHEN dedupe_key ~ '^auction_(won|lost|ended):' "
            "THEN split_part(dedupe_key, ':', 2)::int END = ANY($1) GROUP BY a",
            ids,
        )
    )
    bad: Counter[str] = Counter()
    examples: list[str] = []

    def fail(kind: str, detail: str) -> None:
        bad[kind] += 1
        if len(examples) < 10:
            examples.append(f"{kind}: {detail}")

    for aid, s in by_id.items():
        a = auctions.get(aid)
        if a is None or a["status"] != "ended":
            fail("not_ended", f"auction {aid} status {a and a['status']}")
            continue
        w = s.winner
        if (a["winner"] if a["winner"] is not None else None) != (w[0] if w else None):
            fail("winner", f"auction {aid} winner {a['winner']} expected {w and w[0]}")
        expected_orders = 1 if s.bids else 0
        if orders_per[aid] != expected_orders:
            fail("orders", f"auction {aid}: {orders_per[aid]} orders, expected {expected_orders}")
        if notes.get(aid, 0) != s.expected_rows:
            fail("notifications", f"auction {aid}: {notes.get(aid, 0)} != {s.expected_rows}")
        if emails.get(aid, 0) != s.expected_rows:
            fail("emails", f"auction {aid}: {emails.get(aid, 0)} != {s.expected_rows}")
    for o in orders:
        s = by_id[o["auction"]]
        if s.winner is None or (o["buyer"], o["seller"], o["total_amount"]) != (
            s.winner[0],
            seller_id,
            s.final_price,
        ):
            fail("order_content", f"auction {o['auction']}: {dict(o)}")
    with_bids = sum(1 for s in specs if s.bids)
    return {
        "auctions": len(specs),
        "with_bids": with_bids,
        "ended": sum(1 for a in auctions.values() if a["status"] == "ended"),
        "still_active": sum(1 for a in auctions.values() if a["status"] == "active"),
        "orders": len(orders),
        "orders_expected": with_bids,
        "auctions_with_2plus_orders": sum(1 for c in orders_per.values() if c > 1),
        "notifications": sum(notes.values()),
        "notifications_expected": sum(s.expected_rows for s in specs),
        "outbox_emails": sum(emails.values()),
        "outbox_emails_expected": sum(s.expected_rows for s in specs),
        "errors": dict(bad),
        "error_examples": examples,
        "ok": not bad,
    }


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    args: argparse.Namespace
    users: Users
    conn: asyncpg.Connection  # direct connection for polls and checks
    db_name: str
    app_port: int
    worker: Proc
    scheduler: Proc
    app: Proc
    rng: random.Random
    queue: str


def breakdown(
    ctx: Ctx, specs: list[Spec], sched_from: int, worker_from: int, db_end: dict[int, datetime]
) -> dict[str, Any]:
    """Where the time went, from the logs: end time -> scheduler sent the task -> the worker
    logged "ended" (after commit); and who ended it (the task, or the sweep before the task was
    even sent)."""
    sends = parse_scheduler_sends(ctx.scheduler.read_from(sched_from))
    wlog = parse_worker(ctx.worker.read_from(worker_from))
    to_send, to_db, to_log = [], [], []
    by_sweep = not_sent = 0
    for s in specs:
        end = s.end_time.timestamp()
        sent = sends.get(f"end-auction-{s.id}")
        if sent is None:
            not_sent += 1
        else:
            to_send.append(sent - end)
        if s.id in db_end:
            to_db.append(db_end[s.id].timestamp() - end)
        logged = wlog.ended.get(s.id)
        if logged is not None:
            to_log.append(logged - end)
            if sent is None or logged < sent:
                by_sweep += 1
    window = (
        min(s.end_time.timestamp() for s in specs) - 1,
        max(s.end_time.timestamp() for s in specs) + 60,
    )
    execs = Counter(task for t, task, _ in wlog.executing if window[0] <= t <= window[1])
    sweeps = sorted(
        round(t - min(s.end_time.timestamp() for s in specs), 3)
        for t, task, _ in wlog.executing
        if task == "madeinpk.sweep_auctions" and window[0] <= t <= window[1]
    )
    return {
        "end_to_scheduler_send_s": stats(to_send),
        "end_to_db_update_s": stats(to_db),
        "end_to_worker_log_s": stats(to_log),
        "schedules_never_sent": not_sent,
        "ended_by_sweep_before_task_sent": by_sweep,
        "duplicate_ended_log_lines": sum(c - 1 for c in wlog.ended_lines.values() if c > 1),
        "task_executions": dict(execs),
        "sweep_starts_rel_to_first_end_s": sweeps[:12],
    }


async def db_end_times(conn: asyncpg.Connection, ids: list[int]) -> dict[int, datetime]:
    """updated_at of an ended auction = statement_timestamp() of the closing UPDATE."""
    rows = await conn.fetch(
        "SELECT id, updated_at FROM auction WHERE id = ANY($1) AND status = 'ended'", ids
    )
    return {r["id"]: r["updated_at"] for r in rows}


async def scenario_a(ctx: Ctx, run: int, phase: float) -> dict[str, Any]:
    """N auctions ending within one second, one WebSocket watcher each."""
    from websockets.asyncio.client import connect

    from madeinpk.scheduling import schedule_auction_end

    args = ctx.args
    now = time.time()
    base = math.floor(now + args.a_lead) + phase
    if args.minute_edge and run == 0:
        # Put T in the first second of a minute: the Redis schedule source keys one-off
        # schedules by minute, and the scheduler reads a minute's key only once it has begun.
        base = math.ceil((now + args.a_lead) / 60) * 60 + phase
        wait = base - args.a_lead - time.time()
        if wait > 0:
            log(f"  A{run + 1}: waiting {wait:.0f}s so that T falls on a minute boundary")
            await asyncio.sleep(wait)
    step = args.a_spread_ms / 1000
    ends = [datetime.fromtimestamp(base + i * step, UTC) for i in range(args.a_auctions)]
    specs = plan(ctx.users, ends, ctx.rng, f"A{run}", [0, 1, 2, 3])
    await insert_auctions(ctx.users, specs)
    t0 = time.perf_counter()
    for s in specs:
        await schedule_auction_end(s.id, s.end_time)
    schedule_s = time.perf_counter() - t0
    sched_from, worker_from = ctx.scheduler.size(), ctx.worker.size()

    url = f"ws://127.0.0.1:{ctx.app_port}/ws/auction/{{}}/"
    conns = await asyncio.gather(*(connect(url.format(s.id)) for s in specs))
    try:
        for ws in conns:
            first = json.loads(await ws.recv())
            assert first["type"] == "auction_status", first
        margin = base - time.time()
        deadline = base + step * len(specs) + args.a_timeout

        async def wait_end(ws: Any) -> tuple[float | None, dict[str, Any] | None]:
            try:
                while True:
                    raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.time()))
                    arrived = time.time()
                    message = json.loads(raw)
                    if message.get("type") == "auction_ended":
                        return arrived, message
            except TimeoutError:
                return None, None

        got = await asyncio.gather(*(wait_end(ws) for ws in conns))
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)

    latencies, mismatches, missing = [], [], []
    for s, (arrived, message) in zip(specs, got, strict=True):
        if arrived is None or message is None:
            missing.append(s.id)
            continue
        latencies.append(arrived - s.end_time.timestamp())
        data = message["data"]
        expected = {
            "auction_id": s.id,
            "winner": s.winner[1] if s.winner else None,
            "final_price": f"{s.final_price:.2f}",
            "status": "ended",
            "product_name": s.name,
        }
        actual = {k: data.get(k) for k in expected}
        if actual != expected:
            mismatches.append({"expected": expected, "got": actual})
    await asyncio.sleep(0.5)  # let the last commits' side rows land before checking
    ids = [s.id for s in specs]
    db_end = await db_end_times(ctx.conn, ids)
    result = {
        "run": run + 1,
        "T_subsecond_phase": round(base % 1, 3),
        "T_second_of_minute": int(base % 60),
        "auctions": len(specs),
        "schedule_calls_s": round(schedule_s, 3),
        "margin_before_T_s": round(margin, 2),
        "latency_s": stats(latencies),
        "latency_per_auction_s": [r3(x) for x in latencies],
        "ws_missing": missing,
        "ws_payload_mismatches": mismatches[:5],
        "ws_payload_mismatch_count": len(mismatches),
        "verify": await verify(ctx.conn, specs, ctx.users.seller_id),
        "breakdown": breakdown(ctx, specs, sched_from, worker_from, db_end),
        "loadavg_after": loadavg(),
    }
    lat = result["latency_s"]
    log(
        f"  A{run + 1}: phase .{int(round(base % 1, 3) * 1000):03d} "
        f"latency min {lat['min']} p50 {lat['p50']} max {lat['max']} s, "
        f"missing {len(missing)}, payload mismatches {len(mismatches)}, "
        f"verify {'ok' if result['verify']['ok'] else result['verify']['errors']}"
    )
    return result


async def sample_lock_waits(conn: asyncpg.Connection, db_name: str) -> list[tuple[str, str]]:
    """(waiting statement, statement of the session it waits for), for sessions waiting on a
    lock: who queues behind whom."""
    rows = await conn.fetch(
        "SELECT left(regexp_replace(w.query, '\\s+', ' ', 'g'), 70), "
        "left(regexp_replace(coalesce(b.query, ''), '\\s+', ' ', 'g'), 70) "
        "FROM pg_stat_activity w "
        "LEFT JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(w.pid))[1] "
        "WHERE w.datname = $1 AND w.wait_event_type = 'Lock'",
        db_name,
    )
    return [(r[0], r[1]) for r in rows]


async def sample_pg(conn: asyncpg.Connection, db_name: str) -> list[tuple[str, str, str, int]]:
    rows = await conn.fetch(
        "SELECT coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''), "
        "count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
        "GROUP BY 1, 2, 3",
        db_name,
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def worker_children(worker: Proc) -> list[int]:
    table = proc_table()
    return [pid for pid, (_, ppid, _, _) in table.items() if ppid == worker.pid]


async def scenario_b(ctx: Ctx, cpu: CpuMeter) -> dict[str, Any]:
    """N auctions with one common end time, scheduled one by one (concurrently)."""
    from madeinpk.scheduling import schedule_auction_end

    args = ctx.args
    n = args.b_auctions
    end = datetime.fromtimestamp(time.time() + args.b_ends_in, UTC)
    # About 2 in 3 auctions have bids, so most endings write an order, 3+ notifications, emails.
    specs = plan(ctx.users, [end] * n, ctx.rng, "B", [0, 1, 2, 3, 1, 2])
    t0 = time.perf_counter()
    await insert_auctions(ctx.users, specs)
    insert_s = time.perf_counter() - t0
    limit = asyncio.Semaphore(args.b_schedule_concurrency)

    async def schedule(s: Spec) -> None:
        async with limit:
            await schedule_auction_end(s.id, s.end_time)

    t0 = time.perf_counter()
    await asyncio.gather(*(schedule(s) for s in specs))
    schedule_s = time.perf_counter() - t0
    margin = end.timestamp() - time.time()
    log(
        f"  B: inserted {n} auctions in {insert_s:.2f}s, scheduled in {schedule_s:.2f}s, "
        f"{margin:.2f}s before the common end time"
    )
    sched_from, worker_from = ctx.scheduler.size(), ctx.worker.size()
    ids = [s.id for s in specs]
    # From the last schedule added to the end time: the scheduler rescanning and sending the
    # one-offs, the tasks reading their end times.
    before = CpuMeter(cpu.groups)
    before.begin()

    pyspy: list[subprocess.Popen[bytes]] = []
    pyspy_files: list[str] = []
    if args.py_spy:
        await asyncio.sleep(max(0.0, end.timestamp() - time.time() - 0.5))
        for pid in worker_children(ctx.worker):
            out = Path(args.scratch) / f"pyspy-B-{pid}.txt"
            pyspy_files.append(str(out))
            pyspy.append(
                subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--duration",
                        str(int(args.b_timeout) + 5),
                        "--output",
                        str(out),
                    ]
                    + (["--idle"] if args.py_spy_idle else []),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    conns_before = (await redis.info("stats"))["total_connections_received"]
    max_clients = 0
    await asyncio.sleep(max(0.0, end.timestamp() - time.time()))
    cpu_before = before.report()
    cpu.begin()
    series: list[tuple[float, int]] = []
    pg_samples: Counter[tuple[str, str, str]] = Counter()
    lock_waits: Counter[tuple[str, str]] = Counter()
    pg_n = 0
    sql = "SELECT count(*) FROM auction WHERE id = ANY($1) AND status = 'ended'"
    done_at = None
    while True:
        count = await ctx.conn.fetchval(sql, ids)
        t = time.time() - end.timestamp()
        series.append((round(t, 3), count))
        for state, wtype, wevent, c in await sample_pg(ctx.conn, ctx.db_name):
            pg_samples[(state, wtype, wevent)] += c
        for pair in await sample_lock_waits(ctx.conn, ctx.db_name):
            lock_waits[pair] += 1
        pg_n += 1
        if pg_n % 5 == 1:
            max_clients = max(max_clients, (await redis.info("clients"))["connected_clients"])
        if count >= n:
            done_at = t
            break
        if t > args.b_timeout:
            break
        await asyncio.sleep(0.1)
    cpu_report = cpu.report()
    redis_conns = (await redis.info("stats"))["total_connections_received"] - conns_before
    await redis.aclose()
    per_ending = {
        g: round(pct_core / 100 * cpu_report["wall_s"] / n * 1000, 2)
        for g, pct_core in cpu_report["cpu_pct_of_one_core"].items()
        if g in ("worker", "postgres", "scheduler", "redis")
    }
    for p in pyspy:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGINT)
    for p in pyspy:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()

    def first_at(k: int) -> float | None:
        return next((t for t, c in series if c >= k), None)

    await asyncio.sleep(0.5)
    db_end = await db_end_times(ctx.conn, ids)
    db_lat = sorted(v.timestamp() - end.timestamp() for v in db_end.values())
    verification = await verify(ctx.conn, specs, ctx.users.seller_id)
    # Emails: handed to send_email tasks after each commit; SMTP unset, so "sent" = logged.
    email_sql = (
        "SELECT count(*), count(sent_at) FROM outbox_email WHERE CASE WHEN dedupe_key ~ "
        "'^auction_(won|lost|ended):' THEN split_part(dedupe_key, ':', 2)::int END = ANY($1)"
    )
    total, sent = await ctx.conn.fetchrow(email_sql, ids)
    emails_all_sent_s = None
    t_wait = time.time()
    while sent < total and time.time() - t_wait < args.email_wait:
        await asyncio.sleep(0.25)
        total, sent = await ctx.conn.fetchrow(email_sql, ids)
    last_sent_s = None
    if sent >= total:
        emails_all_sent_s = round(time.time() - end.timestamp(), 2)
        last_sent = await ctx.conn.fetchval(
            email_sql.replace("count(*), count(sent_at)", "max(sent_at)"), ids
        )
        last_sent_s = r3(last_sent.timestamp() - end.timestamp()) if last_sent else None
    # Everything the endings caused, until the emails were sent (and the late no-op tasks ran).
    cpu_settled = cpu.report()
    settled_per_ending = {
        g: round(pct_core / 100 * cpu_settled["wall_s"] / n * 1000, 2)
        for g, pct_core in cpu_settled["cpu_pct_of_one_core"].items()
        if g in ("worker", "postgres", "scheduler", "redis", "app")
    }
    result = {
        "auctions": n,
        "end_second_of_minute": round(end.timestamp() % 60, 3),
        "insert_s": round(insert_s, 3),
        "schedule_all_s": round(schedule_s, 3),
        "schedule_concurrency": args.b_schedule_concurrency,
        "margin_before_end_s": round(margin, 2),
        "all_ended_s": r3(done_at),
        "first_ended_s": r3(first_at(1)),
        "half_ended_s": r3(first_at(math.ceil(n / 2))),
        "poll_series": series[:: max(1, len(series) // 40)] + series[-1:],
        "db_update_time_s": {
            "first": r3(db_lat[0] if db_lat else None),
            "p50": r3(pct(db_lat, 50)),
            "last": r3(db_lat[-1] if db_lat else None),
        },
        "endings_per_s": r3(n / (db_lat[-1] - db_lat[0])) if len(db_lat) > 1 else None,
        "verify": verification,
        "emails": {
            "queued": total,
            "sent_within_wait": sent,
            "all_sent_at_s": emails_all_sent_s,
            "last_sent_at_s": last_sent_s,
        },
        "cpu_during_endings": cpu_report,
        "cpu_ms_per_ending": per_ending,
        "cpu_before_end": cpu_before,
        "cpu_until_emails_sent": cpu_settled,
        "cpu_ms_per_ending_until_emails_sent": settled_per_ending,
        "redis_new_connections_during_endings": redis_conns,
        "redis_max_connected_clients": max_clients,
        "pg_sessions_avg": {
            f"{s or '-'}/{wt or '-'}/{we or '-'}": round(c / pg_n, 2)
            for (s, wt, we), c in pg_samples.most_common(8)
        },
        "lock_waits_sampled": [
            {"waiting": w, "behind": b, "samples": c} for (w, b), c in lock_waits.most_common(6)
        ],
        "breakdown": breakdown(ctx, specs, sched_from, worker_from, db_end),
        "py_spy_files": pyspy_files,
        "loadavg_after": loadavg(),
    }
    log(
        f"  B: first {result['first_ended_s']}s, 50% {result['half_ended_s']}s, "
        f"all {result['all_ended_s']}s after the end time; "
        f"verify {'ok' if verification['ok'] else verification['errors']}; "
        f"emails sent {sent}/{total}"
    )
    return result


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


async def pg_exec(db: str, statement: str) -> None:
    conn = await asyncpg.connect(f"{PG_BASE}/{db}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def flush_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def wait_http(proc: Proc, url: str, limit_s: float = 60) -> float:
    started = time.monotonic()
    while not await asyncio.to_thread(get_ok, url):
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.text()[-3000:]}")
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"{proc.name} not ready after {limit_s}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _git(*argv: str) -> str:
    try:
        return subprocess.run(
            ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


async def run(args: argparse.Namespace, env: dict[str, str], db_name: str) -> dict[str, Any]:
    scratch = Path(args.scratch)
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": db_name,
            "redis": REDIS_URL,
            "task_queue": env["TASK_QUEUE"],
            "cpus": os.cpu_count(),
            "loadavg_at_start": loadavg(),
            "args": {k: v for k, v in vars(args).items()},
            "git_head": _git("rev-parse", "HEAD"),
            "git_dirty_src": bool(_git("status", "--porcelain", "src")),
        },
        "variants": [],
        "logs": {},
    }
    procs: list[Proc] = []
    await flush_redis()
    await pg_exec("postgres", f'CREATE DATABASE "{db_name}"')
    try:
        t0 = time.perf_counter()
        migrated = subprocess.run(
            [sys.executable, "-m", "madeinpk", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrated.stdout}\n{migrated.stderr}")
        log(f"migrated {db_name} in {time.perf_counter() - t0:.1f}s")
        # Redis pub/sub channels ("auction:<id>") ignore the database number: start the ids
        # somewhere no test run or dev server on the same Redis will be.
        first_id = random.randint(1_000_000_000, 2_000_000_000)
        await pg_exec(
            db_name, f"SELECT setval(pg_get_serial_sequence('auction', 'id'), {first_id})"
        )

        from madeinpk.database import build_engine, database_lifespan
        from madeinpk.settings import Settings

        settings = Settings.from_env()
        assert settings.redis_url == REDIS_URL and settings.task_queue == env["TASK_QUEUE"]
        async with database_lifespan(build_engine(settings), settings):
            users = await create_users(args.buyers)
            app_port = int(env["PORT"])
            app = Proc(
                "app",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "madeinpk.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(app_port),
                    "--log-level",
                    "warning",
                ],
                env,
                scratch / "app.log",
            )
            scheduler = Proc(
                "scheduler",
                [
                    sys.executable,
                    "-m",
                    "taskiq",
                    "scheduler",
                    "madeinpk.scheduling:scheduler",
                    "--update-interval",
                    "1",
                ]
                + (["--log-level", args.scheduler_log_level] if args.scheduler_log_level else []),
                env,
                scratch / "scheduler.log",
            )
            procs += [app, scheduler]
            app.start()
            scheduler.start()
            ready_app = await wait_http(app, f"http://127.0.0.1:{app_port}/api/categories/")
            ready_sched = await scheduler.wait_log("Startup completed.")
            log(f"app ready in {ready_app:.1f}s, scheduler in {ready_sched:.1f}s")
            conn = await asyncpg.connect(env["DATABASE_URL"])
            try:
                for workers in args.workers:
                    worker = Proc(
                        f"worker{workers}",
                        [
                            sys.executable,
                            "-m",
                            "taskiq",
                            "worker",
                            "madeinpk.tasks:broker",
                            "--workers",
                            str(workers),
                        ]
                        + (
                            ["--max-async-tasks", str(args.max_async_tasks)]
                            if args.max_async_tasks
                            else []
                        ),
                        env,
                        scratch / f"worker{workers}.log",
                    )
                    procs.append(worker)
                    worker.start()
                    ready = await worker.wait_log("Listening started.", count=workers)
                    log(f"--workers {workers}: ready in {ready:.1f}s (load {loadavg()})")
                    await asyncio.sleep(1.0)
                    ctx = Ctx(
                        args,
                        users,
                        conn,
                        db_name,
                        app_port,
                        worker,
                        scheduler,
                        app,
                        random.Random(args.seed + workers),
                        env["TASK_QUEUE"],
                    )
                    cpu = CpuMeter(
                        {"app": app.pid, "worker": worker.pid, "scheduler": scheduler.pid}
                    )
                    variant: dict[str, Any] = {"workers": workers, "A": [], "B": None}
                    results["variants"].append(variant)
                    if "A" in args.scenarios:
                        for run_i in range(args.a_runs):
                            phase = args.a_phases[run_i % len(args.a_phases)]
                            other = await wait_quiet(cpu.groups, args.wait_quiet, args.quiet_below)
                            variant["A"].append(await scenario_a(ctx, run_i, phase))
                            variant["A"][-1]["other_cpu_pct_before"] = other
                    if "B" in args.scenarios:
                        other = await wait_quiet(cpu.groups, args.wait_quiet, args.quiet_below)
                        log(f"  B: other processes at {other:.0f}% of a core before start")
                        variant["B"] = await scenario_b(ctx, cpu)
                        variant["B"]["other_cpu_pct_before"] = other
                    worker.stop()
                    procs.remove(worker)
                    results["logs"][worker.name] = {
                        "path": str(worker.log_path),
                        "problems": problems_in(worker.text()),
                    }
            finally:
                await conn.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        for name in ("app", "scheduler"):
            path = scratch / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            results["logs"][name] = {"path": str(path), "problems": problems_in(text)}
        with contextlib.suppress(Exception):
            await flush_redis()
        await pg_exec("postgres", f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        log(f"dropped {db_name}, flushed Redis db 14")
    return results


def judge(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value < target else "MISS"


def print_table(results: dict[str, Any]) -> None:
    print()
    print("Scenario A: auctions ending within one second; latency = WS auction_ended - end_time")
    print(
        f"{'workers':>7} {'run':>3} {'T phase':>7} {'min s':>6} {'p50 s':>6} {'max s':>6} "
        f"{'send p50/max':>13} {'db max':>6} {'sweep':>5} {'ws ok':>6} {'rows ok':>7} target<1s"
    )
    for v in results["variants"]:
        for a in v["A"]:
            lat, b = a["latency_s"], a["breakdown"]
            sendp = f"{b['end_to_scheduler_send_s']['p50']}/{b['end_to_scheduler_send_s']['max']}"
            ws_ok = f"{lat['n'] - a['ws_payload_mismatch_count']}/{a['auctions']}"
            print(
                f"{v['workers']:>7} {a['run']:>3} {a['T_subsecond_phase']:>7} "
                f"{lat['min']!s:>6} {lat['p50']!s:>6} {lat['max']!s:>6} {sendp:>13} "
                f"{b['end_to_db_update_s']['max']!s:>6} "
                f"{b['ended_by_sweep_before_task_sent']:>5} {ws_ok:>6} "
                f"{'yes' if a['verify']['ok'] else 'NO':>7} "
                f"{judge(lat['max'], TARGETS['A_max_latency_s'])}"
            )
    print()
    print("Scenario B: auctions with one common end time; seconds after it until ended in the DB")
    print(
        f"{'workers':>7} {'n':>5} {'sched s':>7} {'first':>6} {'50%':>6} {'all':>6} "
        f"{'db last':>7} {'end/s':>6} {'send max':>8} {'orders':>11} {'active':>6} "
        f"{'rows ok':>7} target<10s"
    )
    for v in results["variants"]:
        b = v["B"]
        if not b:
            continue
        ver = b["verify"]
        print(
            f"{v['workers']:>7} {b['auctions']:>5} {b['schedule_all_s']:>7} "
            f"{b['first_ended_s']!s:>6} {b['half_ended_s']!s:>6} {b['all_ended_s']!s:>6} "
            f"{b['db_update_time_s']['last']!s:>7} {b['endings_per_s']!s:>6} "
            f"{b['breakdown']['end_to_scheduler_send_s']['max']!s:>8} "
            f"{ver['orders']:>5}/{ver['orders_expected']:<5} {ver['still_active']:>6} "
            f"{'yes' if ver['ok'] else 'NO':>7} {judge(b['all_ended_s'], TARGETS['B_all_ended_s'])}"
        )
        c = b["cpu_during_endings"]
        print(
            f"{'':>7} cpu % of one core while ending: {c['cpu_pct_of_one_core']}; "
            f"machine busy {c['machine_busy_pct']}%; "
            f"other before start {b.get('other_cpu_pct_before')}%"
        )
        print(f"{'':>7} ran / waited for a CPU (% of wall): {c['run_vs_runqueue_wait_pct']}")
        print(
            f"{'':>7} CPU ms per ending (incl. emails sent meanwhile): {b['cpu_ms_per_ending']}; "
            f"new Redis connections {b['redis_new_connections_during_endings']}, "
            f"max clients {b['redis_max_connected_clients']}"
        )
        cb, cs = b["cpu_before_end"], b["cpu_until_emails_sent"]
        print(
            f"{'':>7} from scheduling to the end time ({cb['wall_s']} s), cpu % of one core: "
            f"{cb['cpu_pct_of_one_core']}"
        )
        print(
            f"{'':>7} from the end time until every email was sent ({cs['wall_s']} s): CPU ms per "
            f"ending {b['cpu_ms_per_ending_until_emails_sent']}"
        )
        print(f"{'':>7} postgres sessions (avg): {b['pg_sessions_avg']}")
        for lw in b["lock_waits_sampled"][:3]:
            print(f"{'':>7} lock wait x{lw['samples']}: {lw['waiting']!r} behind {lw['behind']!r}")
        print(
            f"{'':>7} task executions: {b['breakdown']['task_executions']}; "
            f"ended by sweep before its task was sent: "
            f"{b['breakdown']['ended_by_sweep_before_task_sent']}; emails {b['emails']}"
        )
    print()
    for name, info in results["logs"].items():
        problems = info["problems"]
        print(f"log {name} ({info['path']}): {len(problems)} problem line(s)")
        for line in problems[:8]:
            print(f"    {line[:220]}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", default="2,1", help="taskiq worker --workers values to run (2,1)")
    p.add_argument("--scenarios", default="AB", help="which scenarios: A, B or AB")
    p.add_argument("--a-auctions", type=int, default=20)
    p.add_argument("--a-runs", type=int, default=3)
    p.add_argument("--a-spread-ms", type=float, default=40.0, help="end_time step between auctions")
    p.add_argument("--a-lead", type=float, default=8.0, help="seconds from creation to T")
    p.add_argument(
        "--a-phases",
        default="0.01,0.12,0.23",
        help="sub-second phase of T per run (the scheduler ticks on whole seconds)",
    )
    p.add_argument("--a-timeout", type=float, default=15.0)
    p.add_argument(
        "--minute-edge",
        action="store_true",
        help="run A1 with T in the first second of a minute (waits up to a minute)",
    )
    p.add_argument("--b-auctions", type=int, default=1000)
    p.add_argument("--b-ends-in", type=float, default=5.0)
    p.add_argument("--b-schedule-concurrency", type=int, default=32)
    p.add_argument("--b-timeout", type=float, default=30.0)
    p.add_argument(
        "--email-wait",
        type=float,
        default=8.0,
        help="after B, wait up to this long for the outbox emails to be sent",
    )
    p.add_argument("--buyers", type=int, default=6)
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument(
        "--max-async-tasks",
        type=int,
        default=0,
        help="pass --max-async-tasks to the worker (0: taskiq's default, 100)",
    )
    p.add_argument(
        "--scheduler-log-level",
        default="",
        help="e.g. DEBUG, to see every 'Started schedule update.' of the scheduler",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=3.0,
        help="before each run, wait up to this long for other CPU load to calm down",
    )
    p.add_argument(
        "--quiet-below",
        type=float,
        default=25.0,
        help="'calm' = other processes below this %% of one core",
    )
    p.add_argument("--py-spy", action="store_true", help="py-spy the worker processes during B")
    p.add_argument("--py-spy-idle", action="store_true")
    p.add_argument(
        "--src",
        default="",
        help="import madeinpk from this directory instead of the project's src/ (e.g. "
        "an unpacked `git archive HEAD`, or a copy with a fix to try); all processes",
    )
    args = p.parse_args()
    args.workers = [int(w) for w in str(args.workers).split(",") if w]
    args.a_phases = [float(x) for x in str(args.a_phases).split(",") if x]
    args.scenarios = args.scenarios.upper()
    return args


def main() -> int:
    args = parse_args()
    tag = secrets.token_hex(4)
    scratch = Path(f"/tmp/lcbench-{tag}")
    scratch.mkdir(parents=True)
    args.scratch = str(scratch)
    db_name = f"lcbench_{tag}"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{PG_BASE}/{db_name}",
        REDIS_URL=REDIS_URL,
        TASK_QUEUE=f"lcbench-{tag}",
        SECRET_KEY=SECRET_KEY,
        DEBUG="false",
        SITE_URL=SITE_URL,
        MEDIA_ROOT=str(scratch / "media"),
        PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.pop("SMTP_HOST", None)  # emails go to the log
    if args.src:
        src = str(Path(args.src).resolve())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
        sys.path.insert(0, src)
    # Before any madeinpk import: the broker and the schedule source read these once.
    os.environ.update(env)
    log(f"scratch {scratch}, database {db_name}, queue {env['TASK_QUEUE']}, load {loadavg()}")

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    results = asyncio.run(run(args, env, db_name))
    print_table(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"lifecycle_bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
