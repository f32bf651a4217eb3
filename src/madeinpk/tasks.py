"""Every Taskiq task of the project, and the broker a worker runs:
``taskiq worker madeinpk.tasks:broker``.

Tasks are found in ``TASK_MODULES`` (each declares its own with ``@task``) and registered on
every broker the project builds: the app's (``create_app``, from the app's settings), the
scheduler's and the worker's (each from the settings its process reads once). No task module
imports another domain's tasks: work is handed over by task name (``after_commit``).

Here too is what every process that runs tasks wires the same way: where committed events go
out (``BROADCASTING``, the domains' channels) and the process's ``Endings``, which write the
order of a won auction through orders (auctions sit below orders and only declare the need).

Brokers: Redis streams in production (acknowledged, so a task survives a worker crash), on one
Redis or a Redis Cluster (``REDIS_CLUSTER``: the stream is one key, on its slot's master),
in-process on the embedded default.
"""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState

from madeinpk.after_commit import Broadcasting, Effects
from madeinpk.auctions import tasks as auction_tasks
from madeinpk.auctions.events import auction_channel, frames
from madeinpk.auctions.lifecycle.batching import Endings
from madeinpk.auctions.lifecycle.reminders import window as reminder_window
from madeinpk.broker import TaskDeclaration
from madeinpk.db.engines import build_engine, database_lifespan
from madeinpk.notifications import tasks as notification_tasks
from madeinpk.notifications.live import user_channel
from madeinpk.observability.metrics import TaskMetricsMiddleware
from madeinpk.orders import tasks as order_tasks
from madeinpk.orders.service import AUCTION_ORDERS
from madeinpk.redis_io.channels_backend import channels_backend, channels_plugin
from madeinpk.redis_io.heartbeat import Heartbeat
from madeinpk.redis_io.redis_tasks import (
    ReconnectingStreamBroker,
    ReconnectingStreamClusterBroker,
    StreamRecovery,
)
from madeinpk.redis_io.schedule_source import build_schedule_source
from madeinpk.settings import Settings

TASK_MODULES = (auction_tasks, notification_tasks, order_tasks)
TASKS: tuple[TaskDeclaration, ...] = tuple(
    value
    for module in TASK_MODULES
    for value in vars(module).values()
    if isinstance(value, TaskDeclaration)
)

BROADCASTING = Broadcasting(
    auction_channel=auction_channel, frames=frames, user_channel=user_channel
)

# Redis connections per process for the task queue. Unbounded, every task finishing at the same
# moment (a mass ending: hundreds of acknowledgements at once) opened a connection of its own,
# which costs more than the acknowledgement; bounded, they wait for a pooled one (one Redis: a
# blocking pool; a cluster's pool does not wait, and is left unbounded).
TASK_QUEUE_CONNECTIONS = 16


def build_endings(settings: Settings, effects: Effects) -> Endings:
    """The process's auction endings; ending an auction writes its order: orders answer what
    lifecycle asks (it sits below them)."""
    return Endings(settings, effects, AUCTION_ORDERS)


def build_task_broker(settings: Settings) -> AsyncBroker:
    """A broker for ``settings`` with every task of the project on it."""
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
    for declared in TASKS:
        broker.register_task(declared.function, task_name=declared.name, **declared.labels)
    return broker


def broker() -> AsyncBroker:
    """The worker's broker. ``taskiq worker madeinpk.tasks:broker`` calls this factory in each
    worker process: the settings are read from the environment once, here, and the broker, the
    database pool, the channels and the heartbeat are all made from that one object."""
    settings = Settings.from_env()
    built = build_task_broker(settings)
    process = WorkerProcess(settings, built)
    built.add_event_handler(TaskiqEvents.WORKER_STARTUP, process.startup)
    built.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, process.shutdown)
    return built


class WorkerProcess:
    """What a ``taskiq worker`` process opens at startup and closes at shutdown."""

    def __init__(self, settings: Settings, broker: AsyncBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.heartbeat: Heartbeat | None = None

    async def startup(self, state: TaskiqState) -> None:
        settings = self.settings
        state.settings = settings
        state.database = database_lifespan(build_engine(settings), settings)
        await state.database.__aenter__()
        # Events from a worker reach every app process through the same Redis channels.
        state.channels = channels_plugin(channels_backend(settings))
        await state.channels.__aenter__()
        state.effects = Effects(
            state.channels,
            settings.channel_prefix,
            self.broker,
            build_schedule_source(settings),
            BROADCASTING,
            ending_soon=reminder_window(settings),
        )
        state.endings = build_endings(settings, state.effects)
        if isinstance(self.broker, StreamRecovery):  # not embedded
            # It beats once the worker listens: the consumer group is declared by then.
            self.heartbeat = Heartbeat(
                self.broker.client(),
                settings.task_queue,
                "worker",
                ready=self.broker.listening.wait,
            )
            self.heartbeat.start()

    async def shutdown(self, state: TaskiqState) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.stop()
            self.heartbeat = None
        for name in ("channels", "database"):
            resource = getattr(state, name, None)
            if resource is not None:
                setattr(state, name, None)
                await resource.__aexit__(None, None, None)
