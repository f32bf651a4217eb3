"""A lifecycle benchmark run: the throw-away database, the app, scheduler and worker processes,
each ``--workers`` variant with its scenarios, the results (table and JSON), and the cleanup."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from bench.harness import RESULTS_DIR, ROOT, git_state, log
from bench.lifecycle import scenario_a, scenario_b, scenario_c
from bench.lifecycle.context import Ctx
from bench.lifecycle.data import create_users
from bench.lifecycle.logs import problems_in
from bench.lifecycle.options import PG_BASE, REDIS_URL
from bench.lifecycle.processes import CpuMeter, Proc, loadavg, wait_http, wait_quiet, wait_up
from redis.asyncio import Redis

from madeinpk.db.engines import build_engine, database_lifespan
from madeinpk.redis_io.schedule_source import build_schedule_source
from madeinpk.settings import Settings
from madeinpk.tasks import build_task_broker


async def pg_exec(db: str, statement: str) -> None:
    conn = await asyncpg.connect(f"{PG_BASE}/{db}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def flush_redis() -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


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
            "git": git_state(),
        },
        "variants": [],
        "logs": {},
    }
    procs: list[Proc] = []
    await flush_redis()
    await pg_exec("postgres", f'CREATE DATABASE "{db_name}"')
    try:
        t0 = time.perf_counter()
        migrated = await asyncio.to_thread(
            subprocess.run,
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

        settings = Settings.from_env()
        assert settings.redis_url == REDIS_URL and settings.task_queue == env["TASK_QUEUE"]
        # Endings are scheduled as the app schedules them, on a broker built the same way.
        broker = build_task_broker(settings)
        schedule_source = build_schedule_source(settings)
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
            ready_sched = await wait_up(scheduler, settings, "scheduler")
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
                    ready = await wait_up(worker, settings, "worker", count=workers)
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
                        broker,
                        schedule_source,
                    )
                    cpu = CpuMeter(
                        {"app": app.pid, "worker": worker.pid, "scheduler": scheduler.pid}
                    )
                    variant: dict[str, Any] = {"workers": workers, "A": [], "B": None, "C": []}
                    results["variants"].append(variant)
                    if "A" in args.scenarios:
                        for run_i in range(args.a_runs):
                            phase = args.a_phases[run_i % len(args.a_phases)]
                            other = await wait_quiet(cpu.groups, args.wait_quiet, args.quiet_below)
                            variant["A"].append(await scenario_a.measure(ctx, run_i, phase))
                            variant["A"][-1]["other_cpu_pct_before"] = other
                    if "B" in args.scenarios:
                        other = await wait_quiet(cpu.groups, args.wait_quiet, args.quiet_below)
                        log(f"  B: other processes at {other:.0f}% of a core before start")
                        variant["B"] = await scenario_b.measure(ctx, cpu)
                        variant["B"]["other_cpu_pct_before"] = other
                    if "C" in args.scenarios:
                        for k in args.starts:
                            other = await wait_quiet(cpu.groups, args.wait_quiet, args.quiet_below)
                            variant["C"].append(await scenario_c.measure(ctx, cpu, k))
                            variant["C"][-1]["other_cpu_pct_before"] = other
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


def print_table(results: dict[str, Any]) -> None:
    scenario_a.print_table(results["variants"])
    scenario_b.print_table(results["variants"])
    scenario_c.print_table(results["variants"])
    print()
    for name, info in results["logs"].items():
        problems = info["problems"]
        print(f"log {name} ({info['path']}): {len(problems)} problem line(s)")
        for line in problems[:8]:
            print(f"    {line[:220]}")


def main(args: argparse.Namespace, env: dict[str, str], db_name: str) -> int:
    log(f"scratch {args.scratch}, database {db_name}, queue {env['TASK_QUEUE']}, load {loadavg()}")

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
