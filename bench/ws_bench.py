#!/usr/bin/env python
"""WebSocket load benchmark for MadeInPK Live, in the production topology.

Run by hand from the project root (not a pytest test)::

    uv run python bench/ws_bench.py            # everything, about 2 minutes
    uv run python bench/ws_bench.py --help     # durations, counts, phases, profiling

It creates a throw-away PostgreSQL database, migrates it, writes one hot auction and its bidders
straight through Piccolo, starts ``python -m madeinpk serve --workers 2`` (Redis channels, no
debug) in its own process group, measures five figures with the ``websockets`` library from
this one asyncio process (bidders on its asyncio client, spectators on its Sans-I/O protocol so
that 1,000 of them can be timestamped as bytes arrive), prints a table, writes
``bench/results/ws_bench-<timestamp>.json``, and then kills the server and drops the database,
also when something fails.

See ``bench/README.md`` for what each figure means and its target.
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
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.clients import (
    Bidder,
    Spectator,
    _decode,
    close_all,
    collect,
    merge_checks,
    open_many,
    open_socket,
    open_spectator,
    stream_check,
)
from bench.harness import (
    PG_ADMIN_DSN,
    RESULTS_DIR,
    ROOT,
    CpuMeter,
    Fixture,
    Server,
    _r,
    base_env,
    cleanup_redis,
    create_data,
    free_port,
    git_state,
    log,
    pct,
    raise_fd_limit,
    run_fast,
    scan_server_log,
    socket_fds,
    summary_ms,
    wait_quiet,
)

TARGETS = {
    "race_accepted_per_s": (">=", 1000.0),
    "bid_latency_p99_ms": ("<", 50.0),
    "fanout_p99_ms": ("<", 50.0),
    "connect_p99_ms": ("<", 100.0),
    "rss_per_watcher_kib": ("<", 20.0),
}


PHASES = ("rss", "connect", "fanout", "race", "latency")


class Bench:
    def __init__(self, args: argparse.Namespace, server: Server, fixture: Fixture, db_url: str):
        self.args = args
        self.server = server
        self.fixture = fixture
        self.db_url = db_url
        self.compression = None if args.no_deflate else "deflate"
        base = f"ws://127.0.0.1:{server.port}/ws/auction/{fixture.auction_id}/"
        self.spectator_url = base
        self.token_url = lambda token: f"{base}?token={token}"
        self.accepted_by_phase: dict[str, int] = {}
        self.profilers: list[subprocess.Popen[bytes]] = []

    # -- helpers ------------------------------------------------------------------------------

    def compression_label(self, sockets: list[Spectator]) -> str:
        offered = "deflate offered" if self.compression else "deflate not offered"
        agreed = sum(s.deflate for s in sockets)
        return f"{offered}, negotiated on {agreed}/{len(sockets)}"

    async def bidder(self, index: int) -> Bidder:
        username, token = self.fixture.bidders[index]
        return Bidder(await open_socket(self.token_url(token), self.compression), username)

    async def open_many(self, n: int) -> tuple[list[Spectator], list[str]]:
        return await open_many(
            "127.0.0.1",
            self.server.port,
            self.spectator_url,
            n,
            self.args.open_concurrency,
            self.compression,
        )

    async def spectator(self) -> Spectator:
        return await open_spectator(
            "127.0.0.1", self.server.port, self.spectator_url, self.compression
        )

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.db_url)

    async def bid_rows(self) -> int:
        conn = await self.db()
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM bid WHERE auction = $1", self.fixture.auction_id
            )
        finally:
            await conn.close()

    def start_profiler(self, phase: str, duration: float) -> None:
        if self.args.py_spy != phase:
            return
        out = Path("/tmp/bench-pyspy")
        out.mkdir(exist_ok=True)
        for pid in [*self.server.worker_pids(), os.getpid()]:  # and the load generator
            cmd = [
                self.args.py_spy_bin,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(duration))),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out / f"{phase}-{'bench-' if pid == os.getpid() else ''}{pid}.txt"),
                "--nonblocking",
            ]
            if self.args.py_spy_idle:
                cmd.append("--idle")
            self.profilers.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        log(f"py-spy recording {phase} into {out}/{phase}-<pid>.txt")

    def wait_profilers(self) -> None:
        for p in self.profilers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30)
        self.profilers.clear()

    # -- e. RSS per idle watcher -------------------------------------------------------------

    async def phase_rss(self) -> dict[str, Any]:
        a = self.args
        log(f"rss: warming up with {a.rss_warmup} open spectators (pools grow to their max)")
        warm, warm_errors = await self.open_many(a.rss_warmup)
        await asyncio.sleep(a.settle)
        before = self.server.workers_rss_kib()
        fds_before = {pid: socket_fds(pid) for pid in before}
        log(f"rss: opening {a.rss_watchers} idle spectators")
        self.start_profiler("rss", 3)
        with CpuMeter(self.server.proc.pid) as cpu:  # type: ignore[union-attr]
            idle, errors = await self.open_many(a.rss_watchers)
        open_cpu = cpu.report()
        self.wait_profilers()
        await asyncio.sleep(a.settle)
        after = self.server.workers_rss_kib()
        fds_after = {pid: socket_fds(pid) for pid in after}
        opened = len(idle)
        delta = sum(after.values()) - sum(before.get(pid, 0) for pid in after)
        per_socket = delta / opened if opened else None
        result = {
            "watchers_opened": opened,
            "open_errors": len(errors) + len(warm_errors),
            "open_error_samples": (errors + warm_errors)[:5],
            "warmup_watchers": len(warm),
            "rss_before_kib": before,
            "rss_after_kib": after,
            "rss_delta_kib": delta,
            "rss_per_watcher_kib": _r(per_socket),
            "new_sockets_per_worker": {
                pid: fds_after.get(pid, 0) - fds_before.get(pid, 0) for pid in after
            },
            "open_cpu": open_cpu,
            "open_rate_per_s": _r(opened / open_cpu["wall_s"]) if open_cpu["wall_s"] else None,
            "server_cpu_ms_per_connect": _r(
                open_cpu["cpu_pct_of_one_core"].get("server", 0) * 10 * open_cpu["wall_s"] / opened
                if opened
                else None
            ),
            "compression": self.compression_label(idle),
        }
        log(f"rss: {per_socket and round(per_socket, 1)} KiB per idle watcher; closing")
        await close_all(idle + warm)
        await asyncio.sleep(1.0)
        return result

    # -- d. connect storm --------------------------------------------------------------------

    async def phase_connect(self) -> dict[str, Any]:
        a = self.args
        times: list[float] = []
        rounds = []
        errors: list[str] = []
        cpu_reports = []
        keeper = await self.spectator() if a.connect_warm else None
        self.start_profiler("connect", a.connect_rounds * 1.5)
        for r in range(a.connect_rounds):
            with CpuMeter(self.server.proc.pid) as cpu:  # type: ignore[union-attr]
                results = await asyncio.gather(
                    *(self.spectator() for _ in range(a.connect_clients)),
                    return_exceptions=True,
                )
            cpu_reports.append(cpu.report())
            ok = [s for s in results if isinstance(s, Spectator)]
            errors += [f"{type(e).__name__}: {e}" for e in results if isinstance(e, BaseException)]
            round_times = [s.connect_s for s in ok]
            times += round_times
            rounds.append(summary_ms(round_times))
            log(
                f"connect round {r + 1}: p50 {rounds[-1]['p50_ms']} ms, "
                f"p99 {rounds[-1]['p99_ms']} ms, {len(results) - len(ok)} failed"
            )
            await close_all(ok)
            await asyncio.sleep(0.5)
        if keeper is not None:
            await close_all([keeper])
        result = {
            "warm": a.connect_warm,
            "clients_per_round": a.connect_clients,
            "rounds": rounds,
            "all": summary_ms(times),
            "errors": len(errors),
            "error_samples": errors[:5],
            "cpu_per_round": cpu_reports,
        }
        self.wait_profilers()
        return result

    # -- c. fan-out to many watchers ---------------------------------------------------------

    async def phase_fanout(self) -> dict[str, Any]:
        a = self.args
        log(f"fanout: opening {a.fanout_watchers} spectators")
        watchers, errors = await self.open_many(a.fanout_watchers)
        bidder = await self.bidder(a.bidders + 1)
        await asyncio.sleep(a.settle)
        for w in watchers:
            w.messages.clear()  # keep the auction_status out of the stream check
            w.defer = True  # from here on: stamp and keep bytes, parse afterwards
        sent: dict[Decimal, float] = {}
        sent_wall: dict[Decimal, str] = {}
        replies: Counter[str] = Counter()
        bidder_rtt: list[float] = []
        rows_before = await self.bid_rows()
        log(
            f"fanout: {a.fanout_bids} bids, {a.fanout_gap * 1000:.0f} ms apart, "
            f"to {len(watchers)} watchers"
        )
        self.start_profiler("fanout", a.fanout_bids * (a.fanout_gap + 0.05) + 1)
        with CpuMeter(self.server.proc.pid) as cpu:  # type: ignore[union-attr]
            for _ in range(a.fanout_bids):
                amount = bidder.price + 10
                started = time.perf_counter()
                started_wall = datetime.now(UTC).isoformat(timespec="milliseconds")
                kind, rtt, text = await bidder.bid(amount)
                replies[kind] += 1
                if kind == "accepted":
                    sent[amount] = started
                    sent_wall[amount] = started_wall
                    bidder_rtt.append(rtt)
                else:
                    log(f"fanout: bid {amount} {kind} {text}")
                await asyncio.sleep(a.fanout_gap)
        cpu_report = cpu.report()
        self.wait_profilers()
        # Parse what arrived; give stragglers a few more seconds (parsing live from now on).
        await collect(watchers, len(sent), 5)
        latencies: list[float] = []
        first_delivery: list[float] = []
        last_delivery: list[float] = []
        per_bid: dict[Decimal, list[float]] = {amt: [] for amt in sent}
        checks = []
        other_messages: Counter[str] = Counter()
        expected = sorted(sent)
        for w in watchers:
            amounts = []
            for at, raw in w.messages:
                message = _decode(raw)
                if message.get("type") != "new_bid":
                    other_messages[str(message.get("type"))] += 1
                    continue
                amount = Decimal(message["data"]["amount"])
                amounts.append(amount)
                if amount in sent:
                    latency = at - sent[amount]
                    latencies.append(latency)
                    per_bid[amount].append(latency)
            checks.append(stream_check(amounts, expected))
        timeline = []
        for amount, values in per_bid.items():
            if values:
                first_delivery.append(min(values))
                last_delivery.append(max(values))
                timeline.append(
                    {
                        "sent_at": sent_wall[amount],
                        "amount": str(amount),
                        "first_ms": round(min(values) * 1000, 1),
                        "p50_ms": round(pct(values, 50) * 1000, 1),  # type: ignore[operator]
                        "last_ms": round(max(values) * 1000, 1),
                    }
                )
        close_codes = Counter(w.close_code for w in watchers if w.close_code is not None)
        await bidder.close()
        await close_all(watchers)
        rows_after = await self.bid_rows()
        self.accepted_by_phase["fanout"] = replies["accepted"]
        await asyncio.sleep(1.0)
        return {
            "watchers": len(watchers),
            "compression": self.compression_label(watchers),
            "open_errors": len(errors),
            "open_error_samples": errors[:5],
            "bids_sent": a.fanout_bids,
            "bid_replies": dict(replies),
            "db_rows_added": rows_after - rows_before,
            "deliveries_expected": len(watchers) * len(sent),
            "deliveries": summary_ms(latencies),
            "first_watcher_per_bid": summary_ms(first_delivery),
            "last_watcher_per_bid": summary_ms(last_delivery),
            "bidder_own_new_bid": summary_ms(bidder_rtt),
            "per_bid": timeline,
            "server_cpu_us_per_delivery": _r(
                cpu_report["cpu_pct_of_one_core"].get("server", 0)
                * 10_000
                * cpu_report["wall_s"]
                / max(1, len(latencies))
            ),
            "stream_check": merge_checks(checks),
            "other_messages": dict(other_messages),
            "watcher_close_codes": {str(k): v for k, v in close_codes.items()},
            "cpu": cpu_report,
        }

    # -- a. race on one hot auction ----------------------------------------------------------

    async def phase_race(self) -> dict[str, Any]:
        a = self.args
        log(f"race: connecting {a.bidders} bidders")
        bidders = await asyncio.gather(*(self.bidder(i) for i in range(a.bidders)))
        await asyncio.sleep(a.settle)
        conn = await self.db()
        start_id = await conn.fetchval("SELECT coalesce(max(id), 0) FROM bid")
        rng = random.Random(a.seed)
        outcomes: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        accepted_latency: list[float] = []
        rejected_latency: list[float] = []
        accepted_amounts: list[Decimal] = []
        waits: Counter[str] = Counter()
        samples = 0

        async def race(b: Bidder, deadline: float) -> None:
            while time.perf_counter() < deadline:
                amount = b.price + rng.randint(1, 50)
                kind, took, text = await b.bid(amount)
                outcomes[kind] += 1
                if kind == "accepted":
                    accepted_latency.append(took)
                    accepted_amounts.append(amount)
                elif kind == "rejected":
                    rejected_latency.append(took)
                    reasons[re.sub(r"[0-9.]+$", "X", text)] += 1
                else:
                    break  # timeout or closed: a finding, reported below

        holder_idle_ms: list[float] = []
        holder_xact_ms: list[float] = []
        holder_last_query: Counter[str] = Counter()
        holder_state: Counter[str] = Counter()

        async def sample_waits(stop: asyncio.Event) -> None:
            """pg_stat_activity every 50 ms: what this database's sessions are doing, and who
            holds the auction row that the others queue on (what it last ran, whether it is
            waiting for the app, and how old its transaction is)."""
            nonlocal samples
            probe = await self.db()
            try:
                while not stop.is_set():
                    rows = await probe.fetch(
                        "SELECT pid, state, wait_event_type, wait_event, "
                        "regexp_replace(left(query, 48), '\\s+', ' ', 'g') AS q, "
                        "extract(epoch FROM clock_timestamp() - state_change) * 1000 AS idle_ms, "
                        "extract(epoch FROM clock_timestamp() - xact_start) * 1000 AS xact_ms, "
                        "CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END "
                        "AS blockers "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                    samples += 1
                    by_pid = {row["pid"]: row for row in rows}
                    blockers = {pid for row in rows for pid in (row["blockers"] or [])}
                    for row in rows:
                        if row["state"] == "idle":
                            continue
                        waits[
                            f"{row['state']}|{row['wait_event_type'] or 'CPU'}:"
                            f"{row['wait_event'] or '-'}"
                        ] += 1
                    for pid in blockers:
                        row = by_pid.get(pid)
                        if row is None or row["wait_event_type"] == "Lock":
                            continue  # not in this database, or itself queued (tuple lock)
                        state = row["state"]
                        if state == "active":
                            state += f" ({row['wait_event_type'] or 'CPU'})"
                        holder_state[state] += 1
                        holder_last_query[f"{state}: {row['q'].strip()}"] += 1
                        if row["xact_ms"] is not None:
                            holder_xact_ms.append(float(row["xact_ms"]) / 1000)
                        if row["state"] == "idle in transaction":
                            holder_idle_ms.append(float(row["idle_ms"]) / 1000)
                    await asyncio.sleep(0.05)
            finally:
                await probe.close()

        log(f"race: {a.bidders} bidders for {a.race_seconds:.0f} s")
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_waits(stop))
        self.start_profiler("race", a.race_seconds)
        with CpuMeter(self.server.proc.pid) as cpu:  # type: ignore[union-attr]
            started = time.perf_counter()
            deadline = started + a.race_seconds
            await asyncio.gather(*(race(b, deadline) for b in bidders))
            elapsed = time.perf_counter() - started
        cpu_report = cpu.report()
        stop.set()
        await sampler
        self.wait_profilers()
        accepted = outcomes["accepted"]
        attempts = sum(outcomes.values())
        # Every bidder socket is also a watcher: wait until each has seen every accepted bid.
        expected = sorted(accepted_amounts)
        drain_deadline = time.perf_counter() + 5
        while time.perf_counter() < drain_deadline:
            if all(len(b.seen) >= len(expected) for b in bidders):
                break
            await asyncio.sleep(0.1)
        checks = [stream_check([amt for _, amt, _ in b.seen], expected) for b in bidders]
        close_codes = Counter(b.close_code for b in bidders if b.close_code is not None)
        unexpected = [m for b in bidders for m in b.unexpected]
        db_rows = await conn.fetchval(
            "SELECT count(*) FROM bid WHERE auction = $1 AND id > $2",
            self.fixture.auction_id,
            start_id,
        )
        db_amounts = [
            Decimal(r["amount"])
            for r in await conn.fetch(
                "SELECT amount FROM bid WHERE auction = $1 AND id > $2 ORDER BY id",
                self.fixture.auction_id,
                start_id,
            )
        ]
        await conn.close()
        for b in bidders:
            await b.close()
        self.accepted_by_phase["race"] = accepted
        total_samples = max(1, samples)
        return {
            "bidders": a.bidders,
            "seconds": round(elapsed, 2),
            "attempts": attempts,
            "accepted": accepted,
            "outcomes": dict(outcomes),
            "rejection_reasons": dict(reasons),
            "accepted_per_s": _r(accepted / elapsed),
            "attempts_per_s": _r(attempts / elapsed),
            "accepted_reply": summary_ms(accepted_latency),
            "rejected_reply": summary_ms(rejected_latency),
            "db_rows_added": db_rows,
            "db_rows_match_accepted": db_rows == accepted,
            "db_amounts_match_client": db_amounts == expected,
            "db_amounts_strictly_increasing_by_id": all(x < y for x, y in pairwise(db_amounts)),
            "stream_check_all_bidders": merge_checks(checks),
            "unexpected_messages": len(unexpected),
            "unexpected_samples": unexpected[:5],
            "bidder_close_codes": {str(k): v for k, v in close_codes.items()},
            "pg_activity_avg_sessions": {
                k: round(v / total_samples, 2) for k, v in waits.most_common(12)
            },
            "pg_row_lock_holder": {
                "samples_with_a_queue": sum(holder_state.values()),
                "state": dict(holder_state.most_common()),
                "state_and_last_query": dict(holder_last_query.most_common(10)),
                "idle_in_transaction_for_ms": summary_ms(holder_idle_ms),
                "transaction_age_ms": summary_ms(holder_xact_ms),
            },
            "server_cpu_ms_per_attempt": _r(
                cpu_report["cpu_pct_of_one_core"].get("server", 0) * 10 * elapsed / attempts
                if attempts
                else None
            ),
            "cpu": cpu_report,
        }

    # -- b. single-bidder latency ------------------------------------------------------------

    async def phase_latency(self) -> dict[str, Any]:
        a = self.args
        bidder = await self.bidder(a.bidders)
        await asyncio.sleep(0.2)
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        log(f"latency: {a.latency_bids} sequential bids from one bidder")
        self.start_profiler("latency", a.latency_bids * 0.02 + 1)
        with CpuMeter(self.server.proc.pid) as cpu:  # type: ignore[union-attr]
            for _ in range(a.latency_bids):
                kind, took, text = await bidder.bid(bidder.price + 1)
                outcomes[kind] += 1
                if kind == "accepted":
                    latencies.append(took)
                elif kind != "rejected":
                    log(f"latency: {kind} {text}")
                    break
        cpu_report = cpu.report()
        self.wait_profilers()
        await bidder.close()
        self.accepted_by_phase["latency"] = outcomes["accepted"]
        return {
            "bids": a.latency_bids,
            "outcomes": dict(outcomes),
            "own_new_bid": summary_ms(latencies),
            "server_cpu_ms_per_bid": _r(
                cpu_report["cpu_pct_of_one_core"].get("server", 0)
                * 10
                * cpu_report["wall_s"]
                / max(1, sum(outcomes.values()))
            ),
            "unexpected_messages": bidder.unexpected[:5],
            "cpu": cpu_report,
        }

    # -- final database consistency ----------------------------------------------------------

    async def verify_database(self) -> dict[str, Any]:
        conn = await self.db()
        try:
            auction = await conn.fetchrow(
                "SELECT current_price, bid_count FROM auction WHERE id = $1",
                self.fixture.auction_id,
            )
            stats = await conn.fetchrow(
                "SELECT count(*) AS n, max(amount) AS top, "
                "count(*) FILTER (WHERE is_winning) AS winning, "
                "count(DISTINCT amount) AS distinct_amounts FROM bid WHERE auction = $1",
                self.fixture.auction_id,
            )
            winning = await conn.fetchrow(
                "SELECT amount FROM bid WHERE auction = $1 AND is_winning", self.fixture.auction_id
            )
            # Every bid that took the lead from someone else owes that someone an outbid notice.
            outbid_expected = await conn.fetchval(
                "SELECT count(*) FROM (SELECT bidder, lag(bidder) OVER (ORDER BY id) AS prev "
                "FROM bid WHERE auction = $1) t WHERE prev IS NOT NULL AND prev <> bidder",
                self.fixture.auction_id,
            )
            notifications = await conn.fetchval(
                "SELECT count(*) FROM notification WHERE auction = $1 "
                "AND notification_type = 'bid_outbid'",
                self.fixture.auction_id,
            )
            outbox = await conn.fetchval("SELECT count(*) FROM outbox_email")
            indexes = [
                r["indexdef"]
                for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'bid'")
            ]
        finally:
            await conn.close()
        accepted = sum(self.accepted_by_phase.values())
        result = {
            "bid_rows": stats["n"],
            "accepted_seen_by_clients": accepted,
            "rows_match_accepted": stats["n"] == accepted,
            "auction_current_price": str(auction["current_price"]),
            "max_bid_amount": str(stats["top"]) if stats["top"] is not None else None,
            "current_price_is_max_bid": stats["n"] == 0 or auction["current_price"] == stats["top"],
            "auction_bid_count": auction["bid_count"],
            "bid_count_matches_rows": auction["bid_count"] == stats["n"],
            "winning_bids": stats["winning"],
            "exactly_one_winning": stats["winning"] == (1 if stats["n"] else 0),
            "winning_is_max": winning is None or winning["amount"] == stats["top"],
            "amounts_distinct": stats["distinct_amounts"] == stats["n"],
            "outbid_notifications": notifications,
            "outbid_expected": outbid_expected,
            "outbox_emails": outbox,
            "bid_table_indexes": indexes,
        }
        result["ok"] = (
            all(
                result[k]
                for k in (
                    "rows_match_accepted",
                    "current_price_is_max_bid",
                    "bid_count_matches_rows",
                    "exactly_one_winning",
                    "winning_is_max",
                    "amounts_distinct",
                )
            )
            and notifications == outbid_expected
            and outbox == outbid_expected
        )
        return result


def verdict(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value < target
    return "PASS" if ok else "FAIL"


def headline(results: dict[str, Any]) -> list[tuple[str, str, str, str, str | None]]:
    rows: list[tuple[str, str, str, str, str | None]] = []

    def add(label: str, value: Any, unit: str, key: str | None, note: str = "") -> None:
        text = "—" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)
        target = ""
        if key:
            op, t = TARGETS[key]
            target = f"{op} {t:g} {unit}".replace("<", "<").strip()
        rows.append(
            (
                label,
                f"{text} {unit}".strip(),
                target,
                verdict(key, value) if key else "",
                note or None,
            )
        )

    if race := results.get("race"):
        add(
            "a. accepted bids/s (50 racing)",
            race["accepted_per_s"],
            "/s",
            "race_accepted_per_s",
            f"{race['accepted']} accepted of {race['attempts']}",
        )
        add("a. attempts/s (incl. rejected)", race["attempts_per_s"], "/s", None)
        add("a. reply p99 under race (accepted)", race["accepted_reply"]["p99_ms"], "ms", None)
    if lat := results.get("latency"):
        add("b. bid -> own new_bid p50", lat["own_new_bid"]["p50_ms"], "ms", None)
        add("b. bid -> own new_bid p99", lat["own_new_bid"]["p99_ms"], "ms", "bid_latency_p99_ms")
    if fan := results.get("fanout"):
        d = fan["deliveries"]
        add(f"c. fan-out to {fan['watchers']} p50", d["p50_ms"], "ms", None)
        add(
            f"c. fan-out to {fan['watchers']} p99",
            d["p99_ms"],
            "ms",
            "fanout_p99_ms",
            f"max {d['max_ms']} ms; {d['n']}/{fan['deliveries_expected']} delivered; "
            f"{fan['compression']}",
        )
    if con := results.get("connect"):
        c = con["all"]
        add(f"d. {con['clients_per_round']} connects -> status p50", c["p50_ms"], "ms", None)
        add(
            f"d. {con['clients_per_round']} connects -> status p99",
            c["p99_ms"],
            "ms",
            "connect_p99_ms",
            f"max {c['max_ms']} ms over {len(con['rounds'])} rounds",
        )
    if rss := results.get("rss"):
        add(
            "e. RSS per idle watcher",
            rss["rss_per_watcher_kib"],
            "KiB",
            "rss_per_watcher_kib",
            f"{rss['watchers_opened']} sockets, +{rss['rss_delta_kib']} KiB, {rss['compression']}",
        )
    return rows


def print_table(results: dict[str, Any]) -> None:
    rows = headline(results)
    width = [max(len(r[i]) for r in rows) for i in range(4)] if rows else [0] * 4
    print()
    print("=" * 100)
    print("MadeInPK Live WebSocket benchmark —", results["meta"]["started"])
    print("=" * 100)
    for label, value, target, ok, note in rows:
        print(
            f"{label:<{width[0]}}  {value:>{width[1]}}  {target:<{width[2]}}  {ok:<4}"
            + (f"  ({note})" if note else "")
        )
    print("-" * 100)
    if db := results.get("database"):
        print(
            f"database consistency: {'OK' if db['ok'] else 'PROBLEM'} — {db['bid_rows']} bids, "
            f"current_price {db['auction_current_price']} (max bid {db['max_bid_amount']}), "
            f"{db['winning_bids']} winning, outbid notices {db['outbid_notifications']}"
            f"/{db['outbid_expected']}"
        )
    for phase in ("fanout", "race"):
        if phase in results:
            key = "stream_check" if phase == "fanout" else "stream_check_all_bidders"
            print(f"{phase} stream check: {results[phase][key]}")
    for phase in ("rss", "connect", "fanout", "race", "latency"):
        if phase in results:
            cpu = (
                results[phase].get("cpu")
                or results[phase].get("open_cpu")
                or (results[phase].get("cpu_per_round") or [None])[-1]
            )
            if cpu:
                print(
                    f"cpu during {phase}: {cpu['cpu_pct_of_one_core']} "
                    f"(machine busy {cpu['machine_busy_pct']}%)"
                )
    if race := results.get("race"):
        print(f"race: pg sessions by state/wait (avg active): {race['pg_activity_avg_sessions']}")
        holder = race["pg_row_lock_holder"]
        print(
            f"race: auction-row holder state: {holder['state']}, transaction age "
            f"p50 {holder['transaction_age_ms']['p50_ms']} ms"
        )
    derived = {
        "race server CPU ms/attempt": results.get("race", {}).get("server_cpu_ms_per_attempt"),
        "latency server CPU ms/bid": results.get("latency", {}).get("server_cpu_ms_per_bid"),
        "fanout server CPU us/delivery": results.get("fanout", {}).get(
            "server_cpu_us_per_delivery"
        ),
        "rss server CPU ms/connect": results.get("rss", {}).get("server_cpu_ms_per_connect"),
    }
    print("cost: " + ", ".join(f"{k} {v}" for k, v in derived.items() if v is not None))
    s = results.get("server_log", {})
    print(
        f"server log: {s.get('lines')} lines, {s.get('tracebacks')} tracebacks, "
        f"{s.get('suspicious_lines')} suspicious lines (see {results['meta']['server_log']})"
    )
    for line in s.get("suspicious_samples", [])[:8]:
        print(f"    {line[:160]}")
    for err in results.get("errors", []):
        print(f"ERROR: {err}")
    print("=" * 100)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma list, run in this order (default {','.join(PHASES)})",
    )
    p.add_argument("--workers", type=int, default=2, help="server app processes (default 2)")
    p.add_argument("--bidders", type=int, default=50, help="a. racing bidders (default 50)")
    p.add_argument("--race-seconds", type=float, default=10.0, help="a. race length (10)")
    p.add_argument("--latency-bids", type=int, default=300, help="b. sequential bids (300)")
    p.add_argument("--fanout-watchers", type=int, default=1000, help="c. spectators (1000)")
    p.add_argument("--fanout-bids", type=int, default=20, help="c. bids fanned out (20)")
    p.add_argument("--fanout-gap", type=float, default=0.2, help="c. seconds between bids (0.2)")
    p.add_argument("--connect-clients", type=int, default=200, help="d. simultaneous (200)")
    p.add_argument("--connect-rounds", type=int, default=3, help="d. rounds (3)")
    p.add_argument(
        "--connect-warm",
        action="store_true",
        help="d. one spectator stays connected across rounds: the auction is already watched "
        "(a popular auction) instead of each round's first connect loading it",
    )
    p.add_argument("--rss-watchers", type=int, default=2000, help="e. idle spectators (2000)")
    p.add_argument(
        "--rss-warmup",
        type=int,
        default=200,
        help="e. spectators kept open before the 'before' reading (200)",
    )
    p.add_argument(
        "--open-concurrency",
        type=int,
        default=200,
        help="connects in flight when opening many sockets (200)",
    )
    p.add_argument("--settle", type=float, default=2.0, help="seconds to settle (2)")
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="do not offer permessage-deflate (browsers do offer it)",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed for bid increments")
    p.add_argument("--server-log", default="/tmp/bench-server.log")
    p.add_argument(
        "--py-spy",
        choices=list(PHASES),
        default=None,
        help="record the server workers with py-spy during this phase\n"
        "(raw collapsed stacks in /tmp/bench-pyspy/<phase>-<pid>.txt)",
    )
    p.add_argument("--py-spy-idle", action="store_true", help="include idle samples")
    p.add_argument("--py-spy-bin", default="py-spy")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=20.0,
        help="wait up to this many seconds for other CPU load to stop (20)",
    )
    p.add_argument(
        "--serve-cmd",
        default=None,
        help="run the server with this command instead of 'python -m madeinpk serve --workers N'\n"
        "({workers} is replaced; same environment): to try a fix without editing src/",
    )
    p.add_argument("--keep-db", action="store_true", help="do not drop the database (debugging)")
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {sorted(unknown)}")
    fd_limit = raise_fd_limit()
    machine_busy = await wait_quiet(args.wait_quiet)
    needed = max(args.rss_watchers + args.rss_warmup, args.fanout_watchers) * 2 + 200
    if fd_limit[0] < needed:
        log(f"warning: RLIMIT_NOFILE {fd_limit[0]} may be too low for {needed} sockets")
    tag = secrets.token_hex(4)
    db_name = f"bench_{tag}"
    db_url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    scratch = Path(f"/tmp/bench-{tag}")
    scratch.mkdir(parents=True, exist_ok=True)
    queue = f"bench-{tag}"
    # Redis pub/sub channels ignore the database number, so "auction:1" would be shared with any
    # other app on this Redis (tests, a dev server). A random, 9-digit auction id keeps us apart.
    auction_id = random.SystemRandom().randint(100_000_000, 999_999_999)
    env = base_env(db_url, scratch, queue)
    env["PORT"] = str(free_port())
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "database": db_name,
            "auction_id": auction_id,
            "port": int(env["PORT"]),
            "workers": args.workers,
            "cpus": os.cpu_count(),
            "fd_limit": fd_limit,
            "machine_busy_pct_at_start": machine_busy,
            "server_log": args.server_log,
            "args": vars(args),
            "python": sys.version.split()[0],
            "git": git_state(),
            "serve_cmd": args.serve_cmd or f"python -m madeinpk serve --workers {args.workers}",
        },
        "errors": [],
    }
    server: Server | None = None
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{db_name}"')
        log(f"database {db_name} created; migrating")
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "madeinpk", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        fixture = await create_data(env, args.bidders + 2, auction_id)
        log(f"data: auction {auction_id}, {len(fixture.bidders)} bidders with tokens")
        server = Server(env, args.workers, Path(args.server_log), args.serve_cmd)
        server.start()
        await server.wait_ready()
        results["meta"]["server_pids"] = server.worker_pids()
        log(
            f"server up on port {server.port}: supervisor {server.proc.pid}, "  # type: ignore[union-attr]
            f"children {server.worker_pids()}"
        )
        bench = Bench(args, server, fixture, db_url)
        for phase in phases:
            try:
                results[phase] = await getattr(bench, f"phase_{phase}")()
            except Exception as exc:  # keep going: one broken phase should not hide the others
                import traceback

                results["errors"].append(f"{phase}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
        results["database"] = await bench.verify_database()
    except Exception as exc:
        results["errors"].append(f"setup: {type(exc).__name__}: {exc}")
        raise
    finally:
        if server is not None:
            server.stop()
            results["server_log"] = scan_server_log(server.log_text())
        if not args.keep_db:
            with contextlib.suppress(Exception):
                await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                log(f"database {db_name} dropped")
        await admin.close()
        with contextlib.suppress(Exception):
            await cleanup_redis(queue)
        shutil.rmtree(scratch, ignore_errors=True)
        results["meta"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"ws_bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        if any(k in results for k in PHASES):
            print_table(results)
        log(f"results written to {out}")
    return 1 if results["errors"] or not results.get("database", {}).get("ok", False) else 0


if __name__ == "__main__":
    sys.exit(run_fast(main(parse_args())))
