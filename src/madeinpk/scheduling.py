"""The Taskiq scheduler: periodic sweeps (labels on the tasks) and one-off auction endings.

Production: ``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1`` (exactly one
instance; its 60-second default update interval would make endings up to a minute late), with
the one-off schedules kept in Redis; taskiq calls the ``scheduler`` factory, which reads the
settings once and builds the broker, the schedule source and the heartbeat from them. Embedded:
the app factory builds the same scheduler from the app's settings, on an in-memory source, and
runs it inside the app process. Endings are added through ``after_commit``.
"""

from __future__ import annotations

from datetime import timedelta

from taskiq import AsyncBroker, ScheduleSource, TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource

from madeinpk.redis_io.heartbeat import Heartbeat
from madeinpk.redis_io.redis_tasks import StreamRecovery
from madeinpk.redis_io.schedule_source import build_schedule_source
from madeinpk.settings import Settings
from madeinpk.tasks import build_task_broker


def build_scheduler(broker: AsyncBroker, schedule_source: ScheduleSource) -> TaskiqScheduler:
    """The periodic sweeps (from the tasks' labels on ``broker``) and the one-off endings."""
    return TaskiqScheduler(broker, sources=[LabelScheduleSource(broker), schedule_source])


class BeatingScheduler(TaskiqScheduler):
    """The scheduler process's own: it beats from the end of its startup (``madeinpk health
    scheduler``) until its shutdown."""

    def __init__(self, broker: StreamRecovery, sources: list[ScheduleSource], prefix: str) -> None:
        super().__init__(broker, sources)
        self.heartbeat = Heartbeat(broker.client(), prefix, "scheduler")

    async def startup(self) -> None:
        await super().startup()
        self.heartbeat.start()

    async def shutdown(self) -> None:
        await self.heartbeat.stop()
        await super().shutdown()


def scheduler() -> TaskiqScheduler:
    """What ``taskiq scheduler madeinpk.scheduling:scheduler`` runs (taskiq calls a factory)."""
    settings = Settings.from_env()
    broker = build_task_broker(settings)
    source = build_schedule_source(settings)
    if not isinstance(broker, StreamRecovery):
        return build_scheduler(broker, source)  # embedded: the app runs its own
    return BeatingScheduler(broker, [LabelScheduleSource(broker), source], settings.task_queue)


async def run_embedded_scheduler(scheduler: TaskiqScheduler) -> None:
    """The scheduler loop inside the app process: schedules re-read every second."""
    await run_scheduler_task(
        scheduler, interval=timedelta(seconds=1), loop_interval=timedelta(seconds=1)
    )
