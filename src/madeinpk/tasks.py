"""Every Taskiq task of the project, and the broker a worker runs:
``taskiq worker madeinpk.tasks:broker``.

Tasks are found in ``TASK_MODULES`` (each declares its own with ``@task``) and registered on
every broker the project builds: the app's (``create_app``, from the app's settings), the
scheduler's and the worker's (each from the settings its process reads once). No task module
imports another domain's tasks: work is handed over by task name (``after_commit``).
"""

from __future__ import annotations

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from madeinpk.after_commit import Effects
from madeinpk.auctions import tasks as auction_tasks
from madeinpk.auctions.lifecycle import register_order_writer
from madeinpk.broker import TaskDeclaration, build_broker
from madeinpk.channels_backend import channels_backend, channels_plugin
from madeinpk.database import build_engine, database_lifespan
from madeinpk.heartbeat import Heartbeat
from madeinpk.notifications import tasks as notification_tasks
from madeinpk.orders import tasks as order_tasks
from madeinpk.orders.service import AUCTION_ORDERS
from madeinpk.redis_tasks import StreamRecovery
from madeinpk.schedule_source import build_schedule_source
from madeinpk.settings import Settings

TASK_MODULES = (auction_tasks, notification_tasks, order_tasks)
TASKS: tuple[TaskDeclaration, ...] = tuple(
    value
    for module in TASK_MODULES
    for value in vars(module).values()
    if isinstance(value, TaskDeclaration)
)

# Ending an auction writes its order: orders answer what lifecycle asks (it sits below them).
register_order_writer(AUCTION_ORDERS)


def build_task_broker(settings: Settings) -> AsyncBroker:
    """A broker for ``settings`` with every task of the project on it."""
    return build_broker(settings, TASKS)


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
            state.channels, settings.channel_prefix, self.broker, build_schedule_source(settings)
        )
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
