"""An auction's ending-soon reminder is scheduled, moved and cancelled with its ending
(``after_commit.reschedule_reminder``), on the embedded broker and schedule source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from taskiq import InMemoryBroker

from madeinpk.after_commit import REMIND_ENDING_TASK, reminder_schedule_id, reschedule_reminder
from madeinpk.redis_io.schedule_source import MemoryScheduleSource


def embedded() -> tuple[InMemoryBroker, MemoryScheduleSource, list[int]]:
    kicked: list[int] = []
    broker = InMemoryBroker()

    async def remind(auction_id: int) -> None:
        kicked.append(auction_id)

    broker.register_task(remind, task_name=REMIND_ENDING_TASK)
    return broker, MemoryScheduleSource(), kicked


async def schedules(
    source: MemoryScheduleSource,
) -> dict[str, tuple[datetime | None, list[object]]]:
    return {s.schedule_id: (s.time, s.args) for s in await source.get_schedules()}


async def test_a_future_reminder_is_scheduled_moved_and_cancelled() -> None:
    broker, source, kicked = embedded()
    at = datetime.now(UTC) + timedelta(hours=2)
    await reschedule_reminder(broker, source, 7, at)
    assert await schedules(source) == {reminder_schedule_id(7): (at, [7])}
    later = at + timedelta(minutes=5)
    await reschedule_reminder(broker, source, 7, later, extended=True)  # out of the window
    assert await schedules(source) == {"remind-auction-7": (later, [7])}
    await reschedule_reminder(broker, source, 7, None)
    assert await schedules(source) == {}
    assert kicked == []


async def test_a_due_reminder_goes_at_once_unless_a_soft_close_moved_the_end() -> None:
    broker, source, kicked = embedded()
    past = datetime.now(UTC) - timedelta(minutes=1)
    await reschedule_reminder(broker, source, 8, past, extended=True)  # already went
    await reschedule_reminder(broker, source, 9, past)  # created inside the window
    await broker.wait_all()
    assert kicked == [9]
    assert await schedules(source) == {}
