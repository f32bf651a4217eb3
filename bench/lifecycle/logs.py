"""Reading the worker's and the scheduler's logs (taskiq's format: ``[asctime][logger][LEVEL]
[process] message``): when tasks were sent and run, when auctions ended, and what went wrong."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

TS = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]"
SCHED_SEND = re.compile(TS + r".*Sending task (\S+) with schedule_id (\S+?)\.?$", re.M)
SCHED_UPDATE = re.compile(TS + r".*Started schedule update\.", re.M)
WORKER_LINE = re.compile(TS + r"\[([^\]]+)\]\[(\w+)\s*\]\[([^\]]+)\] (.*)$", re.M)
EXECUTING = re.compile(r"Executing task (\S+) with ID: (\S+)")
ENDED = re.compile(r"Auction (\d+) ended")


def ts(value: str) -> float:
    """taskiq's asctime (local time, milliseconds) as a Unix timestamp."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class WorkerLog:
    executing: list[tuple[float, str, str]] = field(default_factory=list)  # (t, task, process)
    ended: dict[int, float] = field(default_factory=dict)  # auction id -> first "ended" line
    ended_lines: Counter[int] = field(default_factory=Counter)


def parse_worker(text: str) -> WorkerLog:
    out = WorkerLog()
    for m in WORKER_LINE.finditer(text):
        t, process, message = ts(m.group(1)), m.group(4), m.group(5)
        if e := EXECUTING.search(message):
            out.executing.append((t, e.group(1), process))
        elif e := ENDED.search(message):
            aid = int(e.group(1))
            out.ended_lines[aid] += 1
            out.ended.setdefault(aid, t)
    return out


def parse_scheduler_sends(text: str) -> dict[str, float]:
    sends: dict[str, float] = {}
    for m in SCHED_SEND.finditer(text):
        sends.setdefault(m.group(3), ts(m.group(1)))
    return sends


def problems_in(text: str, limit: int = 40) -> list[str]:
    """Tracebacks, errors and warnings, as exact lines (first `limit`)."""
    lines = text.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if (
            "Traceback" in line
            or re.search(r"\b(ERROR|CRITICAL|WARNING|Exception|Error:)\b", line)
            or "[WARNING" in line
            or "[ERROR" in line
        ):
            found.append(line.rstrip())
            if "Traceback" in line:  # keep the traceback's last line (the exception) too
                for follow in lines[i + 1 : i + 60]:
                    if follow and not follow.startswith((" ", "\t")):
                        found.append("    ... " + follow.rstrip())
                        break
        if len(found) >= limit:
            break
    return found
