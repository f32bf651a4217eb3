"""Scenario B: 1,000 auctions with one common end time; seconds from it until every one is
``ended`` in the database (target: < 10 s), what the endings wrote, and what they cost (CPU per
ending, PostgreSQL sessions and lock waits, Redis connections)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from bench.harness import log, pct
from bench.lifecycle.context import TARGETS, Ctx, breakdown, judge, r3, schedule_all
from bench.lifecycle.data import db_change_times, insert_auctions, plan, verify
from bench.lifecycle.options import REDIS_URL
from bench.lifecycle.processes import CpuMeter, loadavg, worker_children
from redis.asyncio import Redis


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


async def measure(ctx: Ctx, cpu: CpuMeter) -> dict[str, Any]:
    """N auctions with one common end time, scheduled one by one (concurrently)."""
    args = ctx.args
    n = args.b_auctions
    end = datetime.fromtimestamp(time.time() + args.b_ends_in, UTC)
    # About 2 in 3 auctions have bids, so most endings write an order, 3+ notifications, emails.
    specs = plan(ctx.users, [end] * n, ctx.rng, "B", [0, 1, 2, 3, 1, 2])
    t0 = time.perf_counter()
    await insert_auctions(ctx.users, specs)
    insert_s = time.perf_counter() - t0
    schedule_s = await schedule_all(specs, ctx.schedule_ending, args.b_schedule_concurrency)
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
                subprocess.Popen(  # noqa: ASYNC220 (returns at once; py-spy must start now)
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
    db_end = await db_change_times(ctx.conn, ids, "ended")
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
        # None when one batch ended them all (one statement time): nothing to divide by.
        "endings_per_s": r3(n / (db_lat[-1] - db_lat[0])) if db_lat[-1:] > db_lat[:1] else None,
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


def print_table(variants: list[dict[str, Any]]) -> None:
    print()
    print("Scenario B: auctions with one common end time; seconds after it until ended in the DB")
    print(
        f"{'workers':>7} {'n':>5} {'sched s':>7} {'first':>6} {'50%':>6} {'all':>6} "
        f"{'db last':>7} {'end/s':>6} {'send max':>8} {'orders':>11} {'active':>6} "
        f"{'rows ok':>7} target<10s"
    )
    for v in variants:
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
