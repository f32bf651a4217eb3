"""The live layer at scale, run by hand (not a test): the production topology on a throw-away
database, as bench/ws_bench.py starts it, and these figures:

  connect     200 simultaneous connects -> auction_status, p50/p99 (3 rounds)
  fanout1000  one bid -> 1,000 watchers, p50/p99 (20 bids)
  fanout200   one bid -> 200 watchers, p50/p99 (20 bids)
  rss         memory per idle watcher (RSS of the app processes, 2,000 idle sockets)
  fanout10k   10,000 watchers of one auction on 2 app processes, held by several load-generator
              processes (one process cannot read 10,000 sockets fast enough to measure
              anything but itself): fan-out p50/p99 and whether every watcher got every bid,
              once, in order

    uv run python bench/live_bench.py [--phases connect,fanout1000,fanout200,rss,fanout10k]
        [--redis-cluster]

``--redis-cluster``: Redis is a private three-master Redis Cluster started for the run (as
tests/integration/test_redis_cluster.py starts it; REDIS_CLUSTER=true), channels on sharded pub/sub.

Latency is from just before the bid is sent to the arrival of its new_bid at each watcher, on
CLOCK_MONOTONIC, which all processes of the machine share. The machine is shared: the figures
report how busy it was. Results go to bench/results/live_bench-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from bench import clients, harness
from bench import ws_bench as wb

PHASES = ("connect", "fanout1000", "fanout200", "rss", "fanout10k")


# -- a load-generator child: holds its share of the 10,000 watchers --------------------------


async def child(port: int, url: str, count: int, concurrency: int) -> None:
    """Open ``count`` spectators, say how many; read the bids' send times from stdin; answer
    with every arrival's latency and the stream check of each watcher."""
    watchers, errors = await clients.open_many("127.0.0.1", port, url, count, concurrency, None)
    for w in watchers:
        w.messages.clear()
        w.defer = True  # stamp arrivals, parse later: this process measures, not itself
    print(json.dumps({"ready": len(watchers), "errors": errors[:3], "failed": len(errors)}))
    sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    sent = {Decimal(k): v for k, v in json.loads(line)["sent"].items()}
    await clients.collect(watchers, len(sent), 15)
    latencies: list[float] = []
    checks = []
    expected = sorted(sent)
    for w in watchers:
        amounts = []
        for at, raw in w.messages:
            message = clients._decode(raw)
            if message.get("type") != "new_bid":
                continue
            amount = Decimal(message["data"]["amount"])
            amounts.append(amount)
            if amount in sent:
                latencies.append(at - sent[amount])
        checks.append(clients.stream_check(amounts, expected))
    closes = [w.close_code for w in watchers if w.close_code is not None]
    print(
        json.dumps(
            {"latencies": latencies, "check": clients.merge_checks(checks), "closes": closes}
        )
    )
    sys.stdout.flush()
    await clients.close_all(watchers)


async def phase_fanout10k(bench: wb.Bench, args: argparse.Namespace) -> dict[str, Any]:
    per_child = -(-args.watchers_10k // args.generators)
    harness.log(f"fanout10k: {args.generators} load generators x {per_child} spectators")
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            str(bench.server.port),
            bench.spectator_url,
            str(per_child),
            str(max(20, args.open_concurrency // args.generators)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        for _ in range(args.generators)
    ]
    ready = []
    for process in children:
        assert process.stdout is not None
        ready.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 600)))
    opened = sum(r["ready"] for r in ready)
    harness.log(f"fanout10k: {opened} watchers open ({sum(r['failed'] for r in ready)} failed)")
    rss = bench.server.workers_rss_kib()
    bidder = await bench.bidder(args.bidders + 1)
    await asyncio.sleep(args.settle)
    sent: dict[str, float] = {}
    replies: dict[str, int] = {}
    with harness.CpuMeter(bench.server.proc.pid) as cpu:  # type: ignore[union-attr]
        for _ in range(args.bids_10k):
            amount = bidder.price + 10
            started = time.perf_counter()
            kind, _, text = await bidder.bid(amount, limit_s=30)
            replies[kind] = replies.get(kind, 0) + 1
            if kind == "accepted":
                sent[f"{amount:.2f}"] = started
            else:
                harness.log(f"fanout10k: bid {amount} {kind} {text}")
            await asyncio.sleep(args.gap_10k)
    cpu_report = cpu.report()
    latencies: list[float] = []
    checks = []
    closes: list[int] = []
    for process in children:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write((json.dumps({"sent": sent}) + "\n").encode())
        await process.stdin.drain()
    for process in children:
        assert process.stdout is not None
        result = json.loads(await asyncio.wait_for(process.stdout.readline(), 120))
        latencies += result["latencies"]
        checks.append(result["check"])
        closes += result["closes"]
    for process in children:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 60)
    await bidder.close()
    total = {k: sum(c[k] for c in checks) for k in checks[0]} if checks else {}
    return {
        "watchers": opened,
        "app_processes": bench.server.workers,
        "load_generators": args.generators,
        "rss_kib_with_watchers": rss,
        "bids_accepted": len(sent),
        "bid_replies": replies,
        "deliveries_expected": opened * len(sent),
        "deliveries": harness.summary_ms(latencies),
        "stream_check": total,
        "close_codes": closes[:20],
        "cpu": cpu_report,
    }


async def main(args: argparse.Namespace) -> int:
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - set(PHASES):
        raise SystemExit(f"unknown phases: {sorted(unknown)}")
    harness.raise_fd_limit()
    busy = await harness.wait_quiet(args.wait_quiet)
    tag = secrets.token_hex(4)
    db_name = f"bench_{tag}"
    db_url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    scratch = Path(f"/tmp/bench-{tag}")
    scratch.mkdir(parents=True, exist_ok=True)
    queue = f"bench-{tag}"
    auction_id = random.SystemRandom().randint(100_000_000, 999_999_999)
    env = harness.base_env(db_url, scratch, queue)
    env["PORT"] = str(harness.free_port())
    cluster = None
    if args.redis_cluster:
        from tests.integration.processes import RedisClusterNodes

        cluster = RedisClusterNodes(scratch / "redis-cluster")
        cluster.start()
        env.update(REDIS_URL=cluster.url, REDIS_CLUSTER="true")
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "workers": args.workers,
            "redis": "cluster of 3 masters" if cluster is not None else "one Redis",
            "machine_busy_pct_at_start": busy,
            "git": harness.git_state(),
        },
        "errors": [],
    }
    ws_args = wb.parse_args(
        [
            "--workers", str(args.workers), "--bidders", str(args.bidders),
            "--no-deflate", "--settle", str(args.settle), "--wait-quiet", "0",
            *(["--connect-warm"] if args.connect_warm else []),
        ]
    )  # fmt: skip
    admin = await asyncpg.connect(harness.PG_ADMIN_DSN)
    server: harness.Server | None = None
    try:
        await admin.execute(f'CREATE DATABASE "{db_name}"')
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "madeinpk", "migrate"],
            cwd=harness.ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        fixture = await harness.create_data(env, args.bidders + 2, auction_id)
        server = harness.Server(env, args.workers, Path(args.server_log))
        server.start()
        await server.wait_ready()
        bench = wb.Bench(ws_args, server, fixture, db_url)
        for phase in phases:
            harness.log(f"--- {phase}")
            profile = f"{args.profile}.{phase}" if args.profile else None
            try:
                with server.profiled(profile):
                    if phase == "fanout10k":
                        results[phase] = await phase_fanout10k(bench, args)
                    elif phase.startswith("fanout"):
                        ws_args.fanout_watchers = int(phase.removeprefix("fanout"))
                        results[phase] = await bench.phase_fanout()
                    else:
                        results[phase] = await getattr(bench, f"phase_{phase}")()
            except Exception as exc:
                import traceback

                traceback.print_exc()
                results["errors"].append(f"{phase}: {type(exc).__name__}: {exc}")
        results["database"] = await bench.verify_database()
    finally:
        if server is not None:
            server.stop()
            results["server_log"] = harness.scan_server_log(server.log_text())
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()
        with contextlib.suppress(Exception):
            await harness.cleanup_redis(queue)
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = harness.RESULTS_DIR / f"live_bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        print(summary(results))
        harness.log(f"results written to {out}")
    return 1 if results["errors"] else 0


def summary(results: dict[str, Any]) -> str:
    lines = [f"machine busy at start: {results['meta']['machine_busy_pct_at_start']}%"]
    if "connect" in results:
        c = results["connect"]
        warm = "warm" if c.get("warm") else "cold"
        lines.append(f"200 connects ({warm}) -> status: {c['all']}")
    for phase in ("fanout1000", "fanout200", "fanout10k"):
        if phase in results:
            r = results[phase]
            d = r["deliveries"]
            lines.append(
                f"{phase}: {r['watchers']} watchers, p50 {d.get('p50_ms')} ms, "
                f"p99 {d.get('p99_ms')} ms, max {d.get('max_ms')} ms, "
                f"{d.get('n')}/{r['deliveries_expected']} delivered"
                + (f", check {r['stream_check']}" if "stream_check" in r else "")
            )
    if "rss" in results:
        lines.append(f"rss: {results['rss'].get('rss_per_watcher_kib')} KiB per idle watcher")
    lines += [f"error: {e}" for e in results["errors"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--phases", default=",".join(PHASES))
    p.add_argument("--workers", type=int, default=2, help="app processes (2)")
    p.add_argument("--bidders", type=int, default=4)
    p.add_argument("--watchers-10k", type=int, default=10_000)
    p.add_argument("--generators", type=int, default=4, help="load-generator processes (4)")
    p.add_argument("--bids-10k", type=int, default=10)
    p.add_argument("--gap-10k", type=float, default=1.0, help="seconds between those bids")
    p.add_argument("--open-concurrency", type=int, default=200)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument(
        "--connect-warm",
        action="store_true",
        help="connect storms on an auction one spectator already watches (see ws_bench)",
    )
    p.add_argument(
        "--redis-cluster",
        action="store_true",
        help="on a private 3-master Redis Cluster (sharded pub/sub) instead of one Redis",
    )
    p.add_argument("--wait-quiet", type=float, default=20.0)
    p.add_argument("--server-log", default="/tmp/live-bench-server.log")
    p.add_argument(
        "--profile",
        help="py-spy raw stacks of the app processes, per phase, to PATH.<phase>.<pid>.txt",
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        port, url, count, concurrency = sys.argv[2:6]
        harness.run_fast(child(int(port), url, int(count), int(concurrency)))
    else:
        sys.exit(harness.run_fast(main(parse_args())))
