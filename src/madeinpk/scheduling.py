"""The Taskiq scheduler: periodic sweeps (labels on the tasks) and one-off auction endings.

Production: ``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1`` (exactly one
instance; its 60-second default update interval would make endings up to a minute late), with
the one-off schedules kept in Redis. Embedded: the same scheduler runs inside the app process on
an in-memory source. Endings are added through ``after_commit``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from taskiq import TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource

from madeinpk.after_commit import reschedule_ending
from madeinpk.schedule_source import build_schedule_source
from madeinpk.settings import Settings
from madeinpk.tasks import broker

schedule_source = build_schedule_source(Settings.from_env())
scheduler = TaskiqScheduler(broker, sources=[LabelScheduleSource(broker), schedule_source])


async def run_embedded_scheduler() -> None:
    """The scheduler loop inside the app process: schedules re-read every second."""
    await run_scheduler_task(
        scheduler, interval=timedelta(seconds=1), loop_interval=timedelta(seconds=1)
    )


async def schedule_auction_end(auction_id: int, end_time: datetime | None) -> None:
    """Schedule, move or (``None``) cancel an ending directly: for tools and tests; the app
    does it after commit through ``after_commit``."""
    await reschedule_ending(broker, schedule_source, auction_id, end_time)
