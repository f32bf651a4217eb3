"""What every lifecycle scenario is given (``Ctx``) and reports with: the targets, summary
figures, and where the time of an ending or a start went (from the logs)."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from bench.harness import pct
from bench.lifecycle.data import Spec, Users
from bench.lifecycle.logs import parse_scheduler_sends, parse_worker
from bench.lifecycle.processes import Proc
from taskiq import AsyncBroker, ScheduleSource

from madeinpk.after_commit import (
    FIRE_AHEAD,
    end_schedule_id,
    reschedule_ending,
    reschedule_start,
    start_schedule_id,
)

TARGETS = {"A_max_latency_s": 1.0, "B_all_ended_s": 10.0, "C_max_latency_s": 1.0}


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": r3(min(values) if values else None),
        "p50": r3(pct(values, 50)),
        "p90": r3(pct(values, 90)),
        "p99": r3(pct(values, 99)),
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

    async def schedule_start(self, spec: Spec) -> None:
        """What the app does after the commit that lists an auction to start later
        (``lifecycle.timetable.schedule_tasks``): its ending, and its start."""
        assert spec.start_time is not None
        await self.schedule_ending(spec)
        await reschedule_start(self.broker, self.schedule_source, spec.id, spec.start_time)


async def schedule_all(
    specs: list[Spec], schedule: Callable[[Spec], Awaitable[None]], concurrency: int
) -> float:
    """``schedule`` every auction, ``concurrency`` calls at a time (as many app processes'
    commits would); returns the seconds it took."""
    limit = asyncio.Semaphore(concurrency)

    async def one(s: Spec) -> None:
        async with limit:
            await schedule(s)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(s) for s in specs))
    return time.perf_counter() - t0


def breakdown(
    ctx: Ctx,
    specs: list[Spec],
    sched_from: int,
    worker_from: int,
    db_times: dict[int, datetime],
    *,
    starts: bool = False,
) -> dict[str, Any]:
    """Where the time went, from the logs: end time -> scheduler sent the task -> the closing
    UPDATE -> the worker logged "ended" (after commit); and who ended it (the task, or the
    sweep before the task was even sent). With ``starts``, the same for the start time and the
    start task (a start logs no line of its own)."""
    label = "start" if starts else "end"
    schedule_id = start_schedule_id if starts else end_schedule_id

    def due(s: Spec) -> float:
        when = s.start_time if starts else s.end_time
        assert when is not None
        return when.timestamp()

    sends = parse_scheduler_sends(ctx.scheduler.read_from(sched_from))
    wlog = parse_worker(ctx.worker.read_from(worker_from))
    to_send, to_db, to_log = [], [], []
    by_sweep = not_sent = 0
    for s in specs:
        sent = sends.get(schedule_id(s.id))
        if sent is None:
            not_sent += 1
        else:
            to_send.append(sent - due(s))
        if s.id in db_times:
            to_db.append(db_times[s.id].timestamp() - due(s))
        logged = wlog.ended.get(s.id)
        if logged is not None:
            to_log.append(logged - due(s))
            if sent is None or logged < sent:
                by_sweep += 1
    first = min(due(s) for s in specs)
    # The one-off tasks are sent FIRE_AHEAD of their time and wait for it: count them too.
    window = (first - FIRE_AHEAD.total_seconds() - 1, max(due(s) for s in specs) + 60)
    execs = Counter(task for t, task, _ in wlog.executing if window[0] <= t <= window[1])
    sweeps = sorted(
        round(t - first, 3)
        for t, task, _ in wlog.executing
        if task == "madeinpk.sweep_auctions" and window[0] <= t <= window[1]
    )
    found: dict[str, Any] = {
        f"{label}_to_scheduler_send_s": stats(to_send),
        f"{label}_to_db_update_s": stats(to_db),
        "schedules_never_sent": not_sent,
        "task_executions": dict(execs),
        f"sweep_starts_rel_to_first_{label}_s": sweeps[:12],
    }
    if not starts:
        found |= {
            "end_to_worker_log_s": stats(to_log),
            "ended_by_sweep_before_task_sent": by_sweep,
            "duplicate_ended_log_lines": sum(c - 1 for c in wlog.ended_lines.values() if c > 1),
        }
    return found
