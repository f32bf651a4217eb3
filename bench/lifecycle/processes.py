"""The processes a lifecycle run starts (app, scheduler, worker), each in its own process group
with its output in a log file; when they are ready; and the CPU each group uses.

The CPU meter here is not ``bench.harness.CpuMeter``: that one measures one server and its
children, this one each of the three process groups apart, and how long they waited for a CPU
(``/proc/<pid>/schedstat``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import CLK_TCK, ROOT, ProcStat, bystander, get_ok, proc_table, system_ticks

from madeinpk.redis_io.heartbeat import ProcessRole, live_processes
from madeinpk.settings import Settings


class Proc:
    """One process we start, in its own session/process group, output to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self.started_at = 0.0  # epoch seconds

    def start(self) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.started_at = time.time()
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


class CpuMeter:
    """CPU used per group of processes over an interval, as % of one core."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups  # name -> process group id
        self.start: dict[int, ProcStat] = {}
        self.t0 = 0.0

    def begin(self) -> None:
        self.start, self.t0 = proc_table(), time.perf_counter()
        self.sched0 = self._schedstat(self.start)
        self.sys0 = system_ticks()

    def _schedstat(self, table: dict[int, ProcStat]) -> dict[int, tuple[int, int]]:
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
        sys1 = system_ticks()
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
            delta = ticks - (before.ticks if before else 0)
            if delta <= 0:
                continue
            used[by_pgrp[pgrp] if pgrp in by_pgrp else bystander(pid, comm)] += delta
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


def worker_children(worker: Proc) -> list[int]:
    table = proc_table()
    return [pid for pid, (_, ppid, _, _) in table.items() if ppid == worker.pid]


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


async def wait_up(
    proc: Proc, settings: Settings, role: ProcessRole, count: int = 1, limit_s: float = 60
) -> float:
    """Until ``count`` processes of ``role`` started since ``proc`` did are up by the health
    check an operator has (``madeinpk health``: their heartbeat in Redis); returns the wait."""
    assert proc.proc is not None
    started, since = time.monotonic(), proc.started_at
    while True:
        beats = await asyncio.to_thread(live_processes, settings, role)
        if sum(b.started >= since for b in beats) >= count:
            return time.monotonic() - started
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.text()[-3000:]}")
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"{proc.name} not up after {limit_s}s; see {proc.log_path}")
        await asyncio.sleep(0.1)
