"""The Taskiq broker: Redis streams in production (acknowledged, so a task survives a worker
crash), in-process on the embedded default. ``taskiq worker madeinpk.broker:broker`` runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState

from madeinpk.metrics import TaskMetricsMiddleware
from madeinpk.redis_tasks import ReconnectingStreamBroker
from madeinpk.settings import Settings

if TYPE_CHECKING:
    from madeinpk.auctions.events import AuctionEvents

TASK_MODULES = [
    "madeinpk.notifications.tasks",
    "madeinpk.auctions.tasks",
    "madeinpk.orders.tasks",
]


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
    ).with_middlewares(TaskMetricsMiddleware())


broker = build_broker(Settings.from_env())


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _worker_startup(state: TaskiqState) -> None:
    """A ``taskiq worker`` process opens its own database pool, from the same settings as the
    app. The in-memory broker fires this event inside the app too: there the app has already
    bound the database and handed over its settings, and nothing must be rebound."""
    if getattr(state, "settings", None) is not None:
        return
    from litestar.channels import ChannelsPlugin

    from madeinpk.app import channels_backend
    from madeinpk.auctions.events import AuctionEvents
    from madeinpk.database import build_engine, database_lifespan

    settings = Settings.from_env()
    state.settings = settings
    state.database = database_lifespan(build_engine(settings), settings)
    await state.database.__aenter__()
    # Events from a worker reach every app process through the same Redis channels.
    state.channels = ChannelsPlugin(
        backend=channels_backend(settings), arbitrary_channels_allowed=True
    )
    await state.channels.__aenter__()
    state.auction_events = AuctionEvents(state.channels)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _worker_shutdown(state: TaskiqState) -> None:
    for name in ("channels", "database"):
        resource = getattr(state, name, None)
        if resource is not None:
            setattr(state, name, None)
            await resource.__aexit__(None, None, None)


def use_app_context(settings: Settings, events: AuctionEvents) -> None:
    """In the app process (embedded), tasks use the app's settings and its channels."""
    broker.state.settings = settings
    broker.state.auction_events = events


def task_settings(state: Any) -> Settings:
    settings = getattr(state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings.from_env()


def task_events(state: Any) -> AuctionEvents:
    events = getattr(state, "auction_events", None)
    if events is None:
        raise RuntimeError("No auction events publisher: the worker did not start up")
    return events


def _import_tasks() -> None:
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)


_import_tasks()
