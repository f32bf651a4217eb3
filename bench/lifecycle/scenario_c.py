"""Scenario C: K scheduled auctions with one common start time, one WebSocket watcher each;
latency = the arrival of ``auction_started`` - the start time (target: max < 1 s, the timing
promised for endings), every watcher told exactly once, and what the starts wrote."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.clients import close_all
from bench.harness import log
from bench.lifecycle.context import TARGETS, Ctx, breakdown, judge, schedule_all, stats
from bench.lifecycle.data import db_change_times, insert_auctions, plan, verify_starts
from bench.lifecycle.processes import CpuMeter, loadavg
from bench.lifecycle.watchers import open_watchers, told

# Past the ending-soon window once started, so that no reminder sweep touches them.
OPEN_FOR = timedelta(hours=2)


async def measure(ctx: Ctx, cpu: CpuMeter, k: int) -> dict[str, Any]:
    """K auctions listed to start together, scheduled and watched as the app's would be."""
    args = ctx.args
    lead = args.c_starts_in + k * args.c_connect_allowance
    start = datetime.fromtimestamp(time.time() + lead, UTC)
    at = start.timestamp()
    specs = plan(ctx.users, [start + OPEN_FOR] * k, ctx.rng, f"C{k}", [0])
    for s in specs:
        s.start_time = start
    t0 = time.perf_counter()
    await insert_auctions(ctx.users, specs)
    insert_s = time.perf_counter() - t0
    schedule_s = await schedule_all(specs, ctx.schedule_start, args.b_schedule_concurrency)
    sched_from, worker_from = ctx.scheduler.size(), ctx.worker.size()
    t0 = time.perf_counter()
    watchers = await open_watchers(ctx.app_port, [s.id for s in specs])
    connect_s = time.perf_counter() - t0
    margin = at - time.time()
    log(
        f"  C{k}: inserted in {insert_s:.2f}s, scheduled in {schedule_s:.2f}s, "
        f"{k} watchers in {connect_s:.2f}s, {margin:.2f}s before the start time"
    )
    # A watcher that came after the start is told nothing (its status says active): the run
    # would not measure what it says, so it is not judged.
    late = sum(w.status.get("status") != "scheduled" for w in watchers)
    if late:
        log(f"  C{k}: {late} watchers connected after the start: not judged (raise the lead)")
    try:
        await asyncio.sleep(max(0.0, at - time.time()))
        cpu.begin()
        got = await told(
            watchers, "auction_started", at + TARGETS["C_max_latency_s"], args.c_timeout, 0.5
        )
        cpu_report = cpu.report()
    finally:
        await close_all(watchers)

    latencies, built, travelled, missing, mismatches = [], [], [], [], []
    repeated = 0
    others: Counter[str] = Counter()
    told_seq: dict[int, int] = {}
    for s, g in zip(specs, got, strict=True):
        others.update(g.others)
        if g.first is None:
            missing.append(s.id)
            continue
        arrived, message = g.first
        repeated += len(g.arrivals) - 1
        latencies.append(arrived - at)
        payload_at = datetime.fromisoformat(message["server_time"]).timestamp()
        built.append(payload_at - at)
        travelled.append(arrived - payload_at)
        data = message["data"]
        told_seq[s.id] = message["seq"]
        if (data.get("auction_id"), data.get("seq")) != (s.id, message["seq"]) or (
            datetime.fromisoformat(data["start_time"]) != start
        ):
            mismatches.append(message)
    ids = [s.id for s in specs]
    db_start = await db_change_times(ctx.conn, ids, "active")
    verification = await verify_starts(ctx.conn, specs, told_seq)
    result = {
        "auctions": k,
        "start_second_of_minute": round(at % 60, 3),
        "insert_s": round(insert_s, 3),
        "schedule_all_s": round(schedule_s, 3),
        "connect_all_s": round(connect_s, 3),
        "margin_before_start_s": round(margin, 2),
        "lead_s": round(lead, 2),
        "watchers_connected_after_start": late,
        "valid": not late,
        "latency_s": stats(latencies),
        # The payload's server_time is taken in the start transaction, before its commit.
        "start_to_payload_built_s": stats(built),
        "payload_built_to_arrival_s": stats(travelled),
        "ws_told": len(latencies),
        "ws_missing": missing[:20],
        "ws_missing_count": len(missing),
        "ws_repeated": repeated,
        "ws_other_messages": dict(others),
        "ws_payload_mismatches": mismatches[:5],
        "ws_payload_mismatch_count": len(mismatches),
        "verify": verification,
        "breakdown": breakdown(ctx, specs, sched_from, worker_from, db_start, starts=True),
        "cpu_start_to_all_told": cpu_report,
        "loadavg_after": loadavg(),
    }
    lat = result["latency_s"]
    log(
        f"  C{k}: latency min {lat['min']} p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} s, "
        f"told {len(latencies)}/{k}, repeated {repeated}, mismatches {len(mismatches)}, "
        f"verify {'ok' if verification['ok'] else verification['errors']}"
    )
    return result


def print_table(variants: list[dict[str, Any]]) -> None:
    print()
    print("Scenario C: scheduled auctions, one start time; latency = WS auction_started - start")
    print(
        f"{'workers':>7} {'K':>5} {'margin':>6} {'min s':>6} {'p50 s':>6} {'p99 s':>6} "
        f"{'max s':>6} {'told':>11} {'twice':>5} {'send p50/max':>13} {'db max':>6} "
        f"{'rows ok':>7} target<1s"
    )
    for v in variants:
        for c in v["C"]:
            lat, b = c["latency_s"], c["breakdown"]
            send = b["start_to_scheduler_send_s"]
            sendp = f"{send['p50']}/{send['max']}"
            print(
                f"{v['workers']:>7} {c['auctions']:>5} {c['margin_before_start_s']:>6} "
                f"{lat['min']!s:>6} {lat['p50']!s:>6} {lat['p99']!s:>6} {lat['max']!s:>6} "
                f"{c['ws_told'] - c['ws_payload_mismatch_count']:>5}/{c['auctions']:<5} "
                f"{c['ws_repeated']:>5} {sendp:>13} "
                f"{b['start_to_db_update_s']['max']!s:>6} "
                f"{'yes' if c['verify']['ok'] else 'NO':>7} "
                f"{judge(lat['max'], TARGETS['C_max_latency_s']) if c['valid'] else 'INVALID'}"
            )
            if not c["valid"]:
                print(
                    f"{'':>7} {c['watchers_connected_after_start']} watchers came after the start"
                )
            cp = c["cpu_start_to_all_told"]
            print(
                f"{'':>7} start -> db UPDATE {b['start_to_db_update_s']['min']}.."
                f"{b['start_to_db_update_s']['max']} s, payload built max "
                f"{c['start_to_payload_built_s']['max']} s, then to the watcher p50/max "
                f"{c['payload_built_to_arrival_s']['p50']}/{c['payload_built_to_arrival_s']['max']}"
                f" s; task executions "
                f"{b['task_executions']}; sweeps at {b['sweep_starts_rel_to_first_start_s'][:4]}; "
                f"cpu % of one core {cp['cpu_pct_of_one_core']} over {cp['wall_s']} s"
            )
