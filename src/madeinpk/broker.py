"""The Taskiq broker: Redis streams in production (acknowledged, so a task survives a worker
crash), in-process on the embedded default. Workers run it with every task registered:
``taskiq worker madeinpk.tasks:broker``."""

from __future__ import annotations

from typing import Any

from litestar.channels import ChannelsPlugin
from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState

from madeinpk.after_commit import Effects
from madeinpk.channels_backend import channels_backend
from madeinpk.database import build_engine, database_lifespan
from madeinpk.metrics import TaskMetricsMiddleware
from madeinpk.redis_tasks import ReconnectingStreamBroker
from madeinpk.schedule_source import build_schedule_source
from madeinpk.settings import Settings

# Redis connections per process for the task queue. Unbounded, every task finishing at the same
# moment (a mass ending: hundreds of acknowledgements at once) opened a connection of its own,
# which costs more than the acknowledgement; bounded, they wait for a pooled one.
TASK_QUEUE_CONNECTIONS = 16


def build_broker(settings: Settings) -> AsyncBroker:
    if settings.redis_url is None:
        return InMemoryBroker().with_middlewares(TaskMetricsMiddleware())
    return ReconnectingStreamBroker(
        url=settings.redis_url,
        queue_name=settings.task_queue,
        consumer_group_name=settings.task_queue,
        # A worker killed mid-task leaves its message pending; reclaim it after a minute.
        idle_timeout=60_000,
        unacknowledged_lock_timeout=30,
        max_connection_pool_size=TASK_QUEUE_CONNECTIONS,
    ).with_middlewares(TaskMetricsMiddleware())


broker = build_broker(Settings.from_env())


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _worker_startup(state: TaskiqState) -> None:
    """A ``taskiq worker`` process opens its own database pool, from the same settings as the
    app. The in-memory broker fires this event inside the app too: there the app has already
    bound the database and handed over its settings, and nothing must be rebound."""
    if getattr(state, "settings", None) is not None:
        return
    settings = Settings.from_env()
    state.settings = settings
    state.database = database_lifespan(build_engine(settings), settings)
    await state.database.__aenter__()
    # Events from a worker reach every app process through the same Redis channels.
    state.channels = ChannelsPlugin(
        backend=channels_backend(settings), arbitrary_channels_allowed=True
    )
    await state.channels.__aenter__()
    state.effects = Effects(
        state.channels, settings.channel_prefix, broker, build_schedule_source(settings)
    )


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _worker_shutdown(state: TaskiqState) -> None:
    for name in ("channels", "database"):
        resource = getattr(state, name, None)
        if resource is not None:
            setattr(state, name, None)
            await resource.__aexit__(None, None, None)


def use_app_context(settings: Settings, effects: Effects) -> None:
    """In the app process (embedded), tasks use the app's settings and its channels."""
    broker.state.settings = settings
    broker.state.effects = effects


def task_settings(state: Any) -> Settings:
    settings = getattr(state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings.from_env()


def task_effects(state: Any) -> Effects:
    effects = getattr(state, "effects", None)
    if effects is None:
        raise RuntimeError("No post-commit effects: the worker did not start up")
    return effects
