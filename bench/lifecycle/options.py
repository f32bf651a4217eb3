"""The command line and the environment of a lifecycle benchmark run. No ``madeinpk`` import
here: ``--src`` must be on ``sys.path`` before the package is first imported."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

import bench.lifecycle
from bench.harness import SECRET_KEY, free_port

PG_BASE = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
SITE_URL = "http://bench.local"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=bench.lifecycle.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", default="2,1", help="taskiq worker --workers values to run (2,1)")
    p.add_argument("--scenarios", default="ABC", help="which scenarios: any of A, B, C")
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
    p.add_argument(
        "--b-schedule-concurrency",
        type=int,
        default=32,
        help="concurrent scheduling calls (B's endings, C's starts with their endings)",
    )
    p.add_argument("--b-timeout", type=float, default=30.0)
    p.add_argument(
        "--email-wait",
        type=float,
        default=8.0,
        help="after B, wait up to this long for the outbox emails to be sent",
    )
    p.add_argument(
        "--starts",
        default="1,500",
        help="C: how many scheduled auctions start together, one run per value (1,500)",
    )
    p.add_argument(
        "--c-starts-in",
        type=float,
        default=6.0,
        help="C: seconds from listing to the start time, besides the connect allowance",
    )
    p.add_argument(
        "--c-connect-allowance",
        type=float,
        default=0.008,
        help="C: seconds added to the start time per watcher, so that all are connected first "
        "(one app process opens ~250 a second here, each with its auction's status)",
    )
    p.add_argument("--c-timeout", type=float, default=15.0)
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
    args.starts = [int(k) for k in str(args.starts).split(",") if k]
    args.scenarios = args.scenarios.upper()
    return args


def prepare(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    """The scratch directory, the database name and every process's environment (this one's
    too); ``--src`` goes on ``sys.path`` and ``PYTHONPATH``. Returns (environment, database)."""
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
        # C holds a watcher per auction, all from this one address: no per-address cap.
        MAX_SOCKETS_PER_IP="0",
    )
    env.pop("SMTP_HOST", None)  # emails go to the log
    if args.src:
        src = str(Path(args.src).resolve())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
        sys.path.insert(0, src)
    # The settings this process reads (Settings.from_env) are the processes' own.
    os.environ.update(env)
    return env, db_name
