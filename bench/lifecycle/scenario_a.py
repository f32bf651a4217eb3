"""Scenario A: 20 auctions ending within one second, one WebSocket watcher each; latency = the
arrival of ``auction_ended`` - that auction's end time (target: max < 1 s)."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any

from bench.clients import close_all
from bench.harness import log
from bench.lifecycle.context import TARGETS, Ctx, breakdown, judge, r3, stats
from bench.lifecycle.data import db_change_times, insert_auctions, plan, verify
from bench.lifecycle.processes import loadavg
from bench.lifecycle.watchers import open_watchers, told


async def measure(ctx: Ctx, run: int, phase: float) -> dict[str, Any]:
    """N auctions ending within one second, one WebSocket watcher each."""
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
        await ctx.schedule_ending(s)
    schedule_s = time.perf_counter() - t0
    sched_from, worker_from = ctx.scheduler.size(), ctx.worker.size()

    watchers = await open_watchers(ctx.app_port, [s.id for s in specs])
    try:
        margin = base - time.time()
        last_end = specs[-1].end_time.timestamp()
        # Read once the last one is due (+ the target): until then they only stamp bytes.
        got = await told(watchers, "auction_ended", last_end + 1.0, args.a_timeout, 0.3)
    finally:
        await close_all(watchers)

    latencies, mismatches, missing = [], [], []
    repeated = 0
    for s, g in zip(specs, got, strict=True):
        if g.first is None:
            missing.append(s.id)
            continue
        arrived, message = g.first
        repeated += len(g.arrivals) - 1
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
    db_end = await db_change_times(ctx.conn, ids, "ended")
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
        "ws_repeated": repeated,
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
        f"missing {len(missing)}, repeated {repeated}, payload mismatches {len(mismatches)}, "
        f"verify {'ok' if result['verify']['ok'] else result['verify']['errors']}"
    )
    return result


def print_table(variants: list[dict[str, Any]]) -> None:
    print()
    print("Scenario A: auctions ending within one second; latency = WS auction_ended - end_time")
    print(
        f"{'workers':>7} {'run':>3} {'T phase':>7} {'min s':>6} {'p50 s':>6} {'max s':>6} "
        f"{'send p50/max':>13} {'db max':>6} {'sweep':>5} {'ws ok':>6} {'rows ok':>7} target<1s"
    )
    for v in variants:
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
