"""Where one-off schedules (auction endings) are kept: Redis in production, this process's
memory when embedded. Separate from the scheduler so that code which only adds schedules (the
app, a worker) does not import it."""

from __future__ import annotations

from taskiq import ScheduleSource
from taskiq.scheduler.scheduled_task import ScheduledTask

from madeinpk.redis_io.redis_tasks import ReconnectingScheduleSource
from madeinpk.redis_io.redis_topology import slot_tag
from madeinpk.settings import Settings


class MemoryScheduleSource(ScheduleSource):
    """One-off schedules for the single embedded process (taskiq core has no such source)."""

    def __init__(self) -> None:
        self._schedules: dict[str, ScheduledTask] = {}

    async def get_schedules(self) -> list[ScheduledTask]:
        return list(self._schedules.values())

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        self._schedules[schedule.schedule_id] = schedule

    async def delete_schedule(self, schedule_id: str) -> None:
        self._schedules.pop(schedule_id, None)

    def post_send(self, task: ScheduledTask) -> None:
        if task.time is not None:  # a one-off has fired
            self._schedules.pop(task.schedule_id, None)


def build_schedule_source(settings: Settings) -> ScheduleSource:
    if settings.redis_url is None:
        return MemoryScheduleSource()
    return ReconnectingScheduleSource(
        settings.redis_url,
        cluster=settings.redis_cluster,
        prefix=slot_tag(f"{settings.task_queue}:schedule", settings.redis_cluster),
    )
