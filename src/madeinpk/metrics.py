"""Our Prometheus metrics, and the helpers the rest of the code records them with.

Litestar's middleware counts HTTP requests; these say how the auction itself is doing. Every
metric lives in prometheus-client's default registry, which ``PROMETHEUS_MULTIPROC_DIR`` turns
into per-process files that ``/metrics`` adds up (see ``madeinpk.observability``), so a gauge
names its multi-process mode: ``livesum`` for what each process holds now (watchers), and
``livemostrecent`` for a value read from the database on scrape (the outbox backlog).

Callers use the helpers, never the metric objects: a name or label can change in one place.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

# Sub-second buckets: a bid decision or a fan-out is milliseconds when healthy.
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# An auction ending is due within a second or two of its end time; the sweep is the backstop.
ENDING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)

BIDS_ACCEPTED = Counter("madeinpk_bids_accepted", "Bids accepted")
BIDS_REJECTED = Counter("madeinpk_bids_rejected", "Bids refused, by reason", ["reason"])
BID_DECISION = Histogram(
    "madeinpk_bid_decision_seconds",
    "Time to accept or refuse a bid (the database transaction)",
    buckets=FAST_BUCKETS,
)
BID_BATCHES = Counter(
    "madeinpk_bid_batches",
    "Bid batches by how they were written: on the state the process knew (known), on the "
    "state another writer left, returned when the known one had moved (moved), or under the "
    "row lock (locked)",
    ["path"],
)
BIDS_FORWARDED = Counter(
    "madeinpk_bids_forwarded",
    "Bids sent to the process that owns their auction, by what came back: its answer "
    "(answered) or nothing in time (unanswered, told `internal`)",
    ["result"],
)
WATCHERS = Gauge(
    "madeinpk_watchers",
    "WebSockets watching an auction",
    multiprocess_mode="livesum",
)
WATCHERS_INTERRUPTED = Counter(
    "madeinpk_watchers_interrupted",
    "Watchers closed because their live stream broke (Redis connection lost)",
)
FANOUT_DELAY = Histogram(
    "madeinpk_fanout_delay_seconds",
    "From a bid's commit to its frame written to a watcher's socket",
    buckets=FAST_BUCKETS,
)
ENDING_DELAY = Histogram(
    "madeinpk_auction_ending_delay_seconds",
    "From an auction's end time to its ending (status ended, event published)",
    buckets=ENDING_BUCKETS,
)
OUTBOX_BACKLOG = Gauge(
    "madeinpk_outbox_backlog",
    "Emails in the outbox not sent yet (read from the database on scrape)",
    multiprocess_mode="livemostrecent",
)
TASK_FAILURES = Counter("madeinpk_task_failures", "Taskiq tasks that ended in an error", ["task"])
TASK_KICKS_DROPPED = Counter(
    "madeinpk_task_kicks_dropped",
    "Tasks not queued because Redis was unreachable (their sweep does the work)",
    ["task"],
)
REDIS_RECONNECTS = Counter(
    "madeinpk_redis_reconnects", "Reconnections to Redis after a lost connection", ["component"]
)
PUBLISH_DROPPED = Counter(
    "madeinpk_channel_events_dropped",
    "Live events not published because Redis was unreachable",
)
BACKEND_UNAVAILABLE = Counter(
    "madeinpk_backend_unavailable",
    "Requests answered 503 because the database or Redis was unreachable",
    ["backend"],
)


def record_bid_accepted(n: int = 1) -> None:
    BIDS_ACCEPTED.inc(n)


def record_bid_rejected(reason: str) -> None:
    """``reason``: a short stable name (``too_low``, ``not_active``, ``rate_limited``…), never
    a message with an amount in it: every distinct value is a new time series."""
    BIDS_REJECTED.labels(reason=reason).inc()


def record_bid_batch(path: str) -> None:
    BID_BATCHES.labels(path=path).inc()


def record_bid_forwarded(result: str) -> None:
    BIDS_FORWARDED.labels(result=result).inc()


def observe_bid_decision(seconds: float) -> None:
    BID_DECISION.observe(seconds)


def observe_fanout_delay(seconds: float) -> None:
    FANOUT_DELAY.observe(max(0.0, seconds))


def observe_ending_delay(seconds: float) -> None:
    ENDING_DELAY.observe(max(0.0, seconds))


def watcher_joined() -> None:
    WATCHERS.inc()


def watcher_left() -> None:
    WATCHERS.dec()


def record_watchers_interrupted(n: int) -> None:
    WATCHERS_INTERRUPTED.inc(n)


def set_outbox_backlog(unsent: int) -> None:
    OUTBOX_BACKLOG.set(unsent)


def record_task_failure(task_name: str) -> None:
    TASK_FAILURES.labels(task=task_name).inc()


def record_task_kick_dropped(task_name: str) -> None:
    TASK_KICKS_DROPPED.labels(task=task_name).inc()


def record_redis_reconnect(component: str) -> None:
    REDIS_RECONNECTS.labels(component=component).inc()


def record_publish_dropped(n: int = 1) -> None:
    PUBLISH_DROPPED.inc(n)


def record_backend_unavailable(backend: str) -> None:
    BACKEND_UNAVAILABLE.labels(backend=backend).inc()


class Stopwatch:
    """``with Stopwatch(observe_bid_decision): …`` times a block, also when it raises."""

    def __init__(self, observe: Any) -> None:
        self._observe = observe
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self._observe(time.perf_counter() - self._start)


class TaskMetricsMiddleware(TaskiqMiddleware):
    """Counts failed tasks by name, in whichever process runs them (a ``taskiq worker``, or
    the app on the embedded topology)."""

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        if result.is_err:
            record_task_failure(message.task_name)
