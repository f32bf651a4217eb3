"""What every lifecycle scenario is given (``Ctx``) and reports with: the targets, summary
figures, and where the time of an ending went (from the logs)."""

from __future__ import annotations

import argparse
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from bench.harness import pct
from bench.lifecycle.data import Spec, Users
from bench.lifecycle.logs import parse_scheduler_sends, parse_worker
from bench.lifecycle.processes import Proc
from taskiq import AsyncBroker, ScheduleSource

from madeinpk.after_commit import reschedule_ending

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


def judge(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value < target else "MISS"


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
    broker: AsyncBroker  # built from the run's settings, as the app builds its own
    schedule_source: ScheduleSource

    async def schedule_ending(self, spec: Spec) -> None:
        """What the app does after the commit that sets an end time."""
        await reschedule_ending(self.broker, self.schedule_source, spec.id, spec.end_time)


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
