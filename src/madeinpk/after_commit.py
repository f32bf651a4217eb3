"""Post-commit effects, with one owner: a transaction fills an ``AfterCommit`` with what it caused
outside the database (events to broadcast, emails to send, starts, endings and their
ending-soon reminders to schedule), and ``Effects`` acts on it only once the transaction has
committed.

Nothing here can turn a committed change into an error: every step is logged and left to its
safety net when it fails (a watcher's replay or gap timer for a lost event, the outbox sweep for
an email, the ending sweep for a schedule). Tasks are kicked by name, so nothing here imports a
task module; the channels an event goes out on are the domains' to name (``Broadcasting``), so
nothing here imports a domain either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.channels import ChannelsPlugin
from taskiq import AsyncBroker, ScheduleSource
from taskiq.kicker import AsyncKicker

logger = logging.getLogger(__name__)

SEND_EMAILS_TASK = "madeinpk.send_emails"
END_AUCTION_TASK = "madeinpk.end_auction"
START_AUCTION_TASK = "madeinpk.start_auction"
REMIND_ENDING_TASK = "madeinpk.remind_ending"

# The scheduler fires up to a tick late and never early, and the Redis source files one-offs by
# minute, so an ending is scheduled this far ahead and the task waits for the exact end time.
FIRE_AHEAD = timedelta(seconds=2.5)
DRAIN_SECONDS = 5.0
# After a hand-over, emails committed within this long ride the next one: a hot auction then
# costs a queue write per tick, not per batch; a lone email still goes at once.
EMAIL_LINGER_SECONDS = 0.05


def end_schedule_id(auction_id: int) -> str:
    return f"end-auction-{auction_id}"


def start_schedule_id(auction_id: int) -> str:
    return f"start-auction-{auction_id}"


def reminder_schedule_id(auction_id: int) -> str:
    return f"remind-auction-{auction_id}"


@dataclass(frozen=True, slots=True)
class Broadcasting:
    """Where committed events go out, as the domains that own them say: an auction's channel and
    the channel message its events travel in (``auctions.events``), a user's channel
    (``notifications.live``). The assembly hands it to ``Effects``; the kernel names no domain."""

    auction_channel: Callable[[str, int], str]  # (channel prefix, auction id)
    frames: Callable[[list[tuple[int, bytes]], float], bytes]  # (seq, payload)s, committed at
    user_channel: Callable[[str, int], str]  # (channel prefix, user id)


@dataclass(slots=True)
class AfterCommit:
    """What one transaction caused outside the database, in the order it happened."""

    events: list[tuple[int, int, bytes]] = field(default_factory=list)  # auction, seq, payload
    email_ids: list[int] = field(default_factory=list)
    endings: dict[int, datetime | None] = field(default_factory=dict)  # None: cancel
    starts: dict[int, datetime | None] = field(default_factory=dict)  # None: cancel
    extended: set[int] = field(default_factory=set)  # endings moved by a soft close
    notified: set[int] = field(default_factory=set)  # users with new notifications

    def notify_users(self, user_ids: Iterable[int]) -> None:
        """Their notification sockets are told once the transaction committed."""
        self.notified.update(user_ids)

    def broadcast(self, auction_id: int, seq: int, payload: bytes) -> None:
        self.events.append((auction_id, seq, payload))

    def send_emails(self, email_ids: list[int]) -> None:
        self.email_ids.extend(email_ids)

    def schedule_ending(
        self, auction_id: int, end_time: datetime, *, extended: bool = False
    ) -> None:
        """``extended``: a soft close moved it (its ending-soon reminder is not sent again)."""
        self.endings[auction_id] = end_time
        if extended:
            self.extended.add(auction_id)

    def cancel_ending(self, auction_id: int) -> None:
        self.endings[auction_id] = None

    def schedule_start(self, auction_id: int, start_time: datetime) -> None:
        """A scheduled auction opens at ``start_time`` (its one-off start task)."""
        self.starts[auction_id] = start_time

    def cancel_start(self, auction_id: int) -> None:
        self.starts[auction_id] = None


class Effects:
    """Carries out ``AfterCommit``s for one process (an app process or a worker)."""

    def __init__(
        self,
        channels: ChannelsPlugin,
        channel_prefix: str,
        broker: AsyncBroker,
        schedule_source: ScheduleSource,
        broadcasting: Broadcasting,
        *,
        ending_soon: timedelta | None = None,
    ) -> None:
        self.channels = channels
        # How long before its end an auction's watchers and bidders are reminded (None: never):
        # the reminder is scheduled, moved and cancelled with the ending.
        self.ending_soon = ending_soon
        self.channel_prefix = channel_prefix
        self.broker = broker
        self.schedule_source = schedule_source
        self.broadcasting = broadcasting
        # An app process hands its own events to its own watchers at once, without waiting for
        # them to come back from the channels backend (that copy is then dropped by ``seq``).
        self.deliver_locally: Callable[[int, list[tuple[int, bytes]], float], None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Emails committed while a hand-over is on its way go in the next one: on a hot auction
        # one task carries many batches' emails instead of one queue write per batch.
        self._emails: list[int] = []
        self._kicking = False

    def channel(self, auction_id: int) -> str:
        return self.broadcasting.auction_channel(self.channel_prefix, auction_id)

    def flush(self, done: AfterCommit) -> None:
        """Broadcast at once (in order, one message per auction; publishing only queues), the
        rest in the background."""
        committed_at = time.time()
        by_auction: dict[int, list[tuple[int, bytes]]] = {}
        for auction_id, seq, payload in done.events:
            by_auction.setdefault(auction_id, []).append((seq, payload))
        # A user's channel only says "you have something new" (its readers ignore what the
        # message holds), so the users ride on the first auction's message: on a hot auction
        # one Redis call per batch instead of two.
        users = [
            self.broadcasting.user_channel(self.channel_prefix, u) for u in sorted(done.notified)
        ]
        for auction_id, events in by_auction.items():
            if self.deliver_locally is not None:
                try:
                    self.deliver_locally(auction_id, events, committed_at)
                except Exception:
                    logger.exception("Events of auction %s not delivered here", auction_id)
            targets, users = [self.channel(auction_id), *users], []
            try:
                self.channels.publish(self.broadcasting.frames(events, committed_at), targets)
            except Exception:
                seqs = [seq for seq, _ in events]
                logger.exception("Events %s of auction %s were not published", seqs, auction_id)
        if done.email_ids:
            self._emails.extend(done.email_ids)
            if not self._kicking:
                self._kicking = True
                self._spawn(self._kick_emails())
        for auction_id, end_time in done.endings.items():
            self._spawn(self._reschedule(auction_id, end_time, auction_id in done.extended))
        for auction_id, start_time in done.starts.items():
            self._spawn(self._reschedule_start(auction_id, start_time))
        if users:
            try:
                self.channels.publish(b"1", users)
            except Exception:
                logger.exception("Users %s were not told of new notifications", users)

    async def drain(self) -> None:
        """Let background kicks finish (shutdown); whatever is still stuck is left to sweeps."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=DRAIN_SECONDS)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _kick_emails(self) -> None:
        try:
            while self._emails:
                email_ids, self._emails = self._emails, []
                try:
                    await by_name(SEND_EMAILS_TASK, self.broker).kiq(email_ids)
                except Exception as exc:
                    # The emails wait in the outbox; its sweep sends them.
                    logger.warning(
                        "Emails %s not handed to a worker (%s); the outbox sweep will",
                        email_ids,
                        exc,
                    )
                await asyncio.sleep(EMAIL_LINGER_SECONDS)
        finally:
            self._kicking = False

    async def _reschedule(
        self, auction_id: int, end_time: datetime | None, extended: bool = False
    ) -> None:
        try:
            await reschedule_ending(self.broker, self.schedule_source, auction_id, end_time)
        except Exception as exc:
            logger.warning(
                "Ending of auction %s not scheduled (%s); the sweep ends it", auction_id, exc
            )
        if self.ending_soon is None:
            return
        try:
            await reschedule_reminder(
                self.broker,
                self.schedule_source,
                auction_id,
                None if end_time is None else end_time - self.ending_soon,
                extended=extended,
            )
        except Exception as exc:
            logger.warning(
                "Reminder of auction %s not scheduled (%s); the sweep sends it", auction_id, exc
            )

    async def _reschedule_start(self, auction_id: int, start_time: datetime | None) -> None:
        try:
            await reschedule_start(self.broker, self.schedule_source, auction_id, start_time)
        except Exception as exc:
            logger.warning(
                "Start of auction %s not scheduled (%s); the sweep starts it", auction_id, exc
            )


def by_name(task_name: str, broker: AsyncBroker) -> AsyncKicker[..., Any]:
    """A task handed over by name: this module imports no task, so its arguments go unchecked
    by the type checker (``tests/integration/test_task_wiring.py`` checks the names)."""
    return AsyncKicker(task_name, broker, {})


async def reschedule_ending(
    broker: AsyncBroker, source: ScheduleSource, auction_id: int, end_time: datetime | None
) -> None:
    """Schedule (or move, or with ``None`` cancel) an auction's one-off ending. The task is
    told the end time, so it need not read it (a moved end is rescheduled, and the task checks
    again before it gives up)."""
    schedule_id = end_schedule_id(auction_id)
    await source.delete_schedule(schedule_id)
    if end_time is not None:
        await (
            by_name(END_AUCTION_TASK, broker)
            .with_schedule_id(schedule_id)
            .schedule_by_time(
                source, end_time - FIRE_AHEAD, auction_id, end_time=end_time.isoformat()
            )
        )


async def reschedule_start(
    broker: AsyncBroker, source: ScheduleSource, auction_id: int, start_time: datetime | None
) -> None:
    """Schedule (or move, or with ``None`` cancel) a scheduled auction's one-off start, fired
    ``FIRE_AHEAD`` of it like an ending: the task waits for the exact start time."""
    schedule_id = start_schedule_id(auction_id)
    await source.delete_schedule(schedule_id)
    if start_time is not None:
        await (
            by_name(START_AUCTION_TASK, broker)
            .with_schedule_id(schedule_id)
            .schedule_by_time(
                source, start_time - FIRE_AHEAD, auction_id, start_time=start_time.isoformat()
            )
        )


async def reschedule_reminder(
    broker: AsyncBroker,
    source: ScheduleSource,
    auction_id: int,
    remind_at: datetime | None,
    *,
    extended: bool = False,
) -> None:
    """Schedule (or move, or with ``None`` cancel) an auction's ending-soon reminder at
    ``remind_at``; one already due is sent at once. A soft close moves an end that is already
    inside the window: its reminder went (or is on its way), so nothing is done."""
    due = remind_at is not None and remind_at <= datetime.now(UTC)
    if extended and due:
        return
    schedule_id = reminder_schedule_id(auction_id)
    await source.delete_schedule(schedule_id)
    if remind_at is None:
        return
    kicker = by_name(REMIND_ENDING_TASK, broker)
    if due:
        await kicker.kiq(auction_id)
    else:
        await kicker.with_schedule_id(schedule_id).schedule_by_time(source, remind_at, auction_id)
