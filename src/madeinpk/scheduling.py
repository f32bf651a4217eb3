"""The Taskiq scheduler: periodic sweeps (labels on the tasks) and one-off auction endings.

Production: ``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1`` (exactly one
instance; its 60-second default update interval would make endings up to a minute late), with
the one-off schedules kept in Redis. Embedded: the same scheduler runs inside the app process on
an in-memory source.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from taskiq import ScheduleSource, TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.scheduler.scheduled_task import ScheduledTask

from madeinpk.broker import broker
from madeinpk.redis_tasks import ReconnectingScheduleSource
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
    return ReconnectingScheduleSource(settings.redis_url, prefix=f"{settings.task_queue}:schedule")


schedule_source = build_schedule_source(Settings.from_env())
scheduler = TaskiqScheduler(broker, sources=[LabelScheduleSource(broker), schedule_source])


def _end_schedule_id(auction_id: int) -> str:
    return f"end-auction-{auction_id}"


# The scheduler fires up to a tick late and never early, and the Redis source files one-offs by
# minute (a minute's appear once it has begun), so the one-off is set 2.5 s ahead and the task
# itself waits for the exact end time: endings land within milliseconds.
FIRE_AHEAD = timedelta(seconds=2.5)


async def schedule_auction_end(auction_id: int, end_time: datetime) -> None:
    """Schedule (or move) an auction's ending. The sweep is the safety net if this is lost."""
    from madeinpk.auctions.tasks import end_auction

    await schedule_source.delete_schedule(_end_schedule_id(auction_id))
    await (
        end_auction.kicker()
        .with_schedule_id(_end_schedule_id(auction_id))
        .schedule_by_time(schedule_source, end_time - FIRE_AHEAD, auction_id)
    )


async def cancel_auction_end(auction_id: int) -> None:
    await schedule_source.delete_schedule(_end_schedule_id(auction_id))


async def run_embedded_scheduler() -> None:
    """The scheduler loop inside the app process: schedules re-read every second."""
    await run_scheduler_task(
        scheduler, interval=timedelta(seconds=1), loop_interval=timedelta(seconds=1)
    )
