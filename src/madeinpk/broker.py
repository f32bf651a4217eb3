"""The Taskiq broker, and how tasks are declared without one.

A task is declared where its work lives, ``@task("madeinpk.end_auction")`` in a domain's
``tasks.py``, with no broker at hand. Brokers are built from a ``Settings`` by whoever runs the
tasks, and every declared task is registered on them (``madeinpk.tasks``): the app factory from
the settings the app gets, ``taskiq worker madeinpk.tasks:broker`` and ``taskiq scheduler
madeinpk.scheduling:scheduler`` from the settings their process reads once. So there is no
broker built at import, from an environment the app may not be using.

Redis streams in production (acknowledged, so a task survives a worker crash), on one Redis or
a Redis Cluster (``REDIS_CLUSTER``: the stream is one key, on its slot's master), in-process on
the embedded default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskiq import AsyncBroker, InMemoryBroker

from madeinpk.after_commit import Effects
from madeinpk.observability.metrics import TaskMetricsMiddleware
from madeinpk.redis_io.redis_tasks import ReconnectingStreamBroker, ReconnectingStreamClusterBroker
from madeinpk.settings import Settings

# Redis connections per process for the task queue. Unbounded, every task finishing at the same
# moment (a mass ending: hundreds of acknowledgements at once) opened a connection of its own,
# which costs more than the acknowledgement; bounded, they wait for a pooled one (one Redis: a
# blocking pool; a cluster's pool does not wait, and is left unbounded).
TASK_QUEUE_CONNECTIONS = 16

TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class TaskDeclaration:
    """A task as its domain declares it: the name work is handed over by, the function, and
    Taskiq labels (``schedule=[...]`` for the periodic ones)."""

    name: str
    function: TaskFunction
    labels: Mapping[str, Any] = field(default_factory=dict)


def task(name: str, **labels: Any) -> Callable[[TaskFunction], TaskDeclaration]:
    """Declare a task; ``madeinpk.tasks`` finds it in its module and registers it on every
    broker the project builds."""

    def declare(function: TaskFunction) -> TaskDeclaration:
        return TaskDeclaration(name=name, function=function, labels=labels)

    return declare


def build_broker(settings: Settings, tasks: Iterable[TaskDeclaration] = ()) -> AsyncBroker:
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = InMemoryBroker().with_middlewares(TaskMetricsMiddleware())
    else:
        stream_broker: type[ReconnectingStreamBroker | ReconnectingStreamClusterBroker]
        if settings.redis_cluster:
            # No bound here: redis-py's cluster pool refuses a command when its pool is full
            # (MaxConnectionsError) instead of waiting, which would drop kicks and acks.
            stream_broker, pool = ReconnectingStreamClusterBroker, {}
        else:
            stream_broker = ReconnectingStreamBroker
            pool = {"max_connection_pool_size": TASK_QUEUE_CONNECTIONS}
        broker = stream_broker(
            url=settings.redis_url,
            queue_name=settings.task_queue,
            consumer_group_name=settings.task_queue,
            # A worker killed mid-task leaves its message pending; reclaim it after a minute.
            idle_timeout=60_000,
            unacknowledged_lock_timeout=30,
            **pool,
        ).with_middlewares(TaskMetricsMiddleware())
    for declared in tasks:
        broker.register_task(declared.function, task_name=declared.name, **declared.labels)
    return broker


def task_settings(state: Any) -> Settings:
    """The settings of the process running the task (the app's, or the worker's)."""
    settings = getattr(state, "settings", None)
    if not isinstance(settings, Settings):
        raise RuntimeError("No settings: the worker did not start up")
    return settings


def task_effects(state: Any) -> Effects:
    effects = getattr(state, "effects", None)
    if effects is None:
        raise RuntimeError("No post-commit effects: the worker did not start up")
    return effects
