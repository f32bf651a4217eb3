"""Auction tasks: the one-off start of a scheduled auction and the one-off ending at an
auction's end time, and the sweep behind both; the ending-soon reminder before the end
(``lifecycle.reminders``), and its own sweep.

The ending and its sweep hand their auctions to the process's ``lifecycle.batching.Endings``,
which ends them in batches (each batch also takes whatever else is due), so they never race: an
auction is ended by exactly one batch, and whoever asked for it learns whether it was theirs."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from taskiq import Context, TaskiqDepends

from madeinpk.after_commit import Effects
from madeinpk.auctions.bidding.keys import forget_expired_keys
from madeinpk.auctions.lifecycle.batching import ENDED, GONE, Endings
from madeinpk.auctions.lifecycle.endings import end_time_if_active
from madeinpk.auctions.lifecycle.reminders import BATCH as REMINDER_BATCH
from madeinpk.auctions.lifecycle.reminders import send_reminders
from madeinpk.auctions.lifecycle.starts import (
    BATCH,
    any_due_to_start,
    start_auctions,
    start_time_if_scheduled,
)
from madeinpk.broker import task
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 2
# Reminders are minutes ahead of the end: a few seconds late is on time.
REMINDER_SWEEP_SECONDS = 5

# How long a task fired ahead of the end may wait for it; a later end was rescheduled, and the
# new schedule (or the sweep) will end it.
MAX_WAIT_SECONDS = 5.0
# The database clock decides; allow this worker's to run a little ahead (and a bid to hold the
# auction's row for a moment), retrying this often, this far apart at least.
CLOCK_RETRIES = 10
RETRY_SECONDS = 0.05


def task_effects(state: Any) -> Effects:
    """The process's ``Effects`` (broadcasts after commit), from its startup's task state."""
    effects = getattr(state, "effects", None)
    if not isinstance(effects, Effects):
        raise RuntimeError("No effects: the worker did not start up")
    return effects


def task_endings(state: Any) -> Endings:
    """The process's ``Endings``, which its startup (app or worker) put in the task state."""
    endings = getattr(state, "endings", None)
    if not isinstance(endings, Endings):
        raise RuntimeError("No auction endings: the worker did not start up")
    return endings


@task("madeinpk.end_auction")
async def end_auction(
    auction_id: int,
    context: Annotated[Context, TaskiqDepends()],
    end_time: str | None = None,
) -> bool:
    """Fired shortly before the end time (given by the schedule, else read): wait for it, then
    end the auction. A stale end time only costs a look: the batch answers with the end in
    force."""
    endings = task_endings(context.state)
    end: datetime | None = (
        datetime.fromisoformat(end_time) if end_time else await end_time_if_active(auction_id)
    )
    for _ in range(CLOCK_RETRIES):
        if end is None:
            return False  # someone else ended it
        wait = (end - utc_now()).total_seconds()
        if wait > MAX_WAIT_SECONDS:
            return False
        await asyncio.sleep(max(0.0, wait))
        outcome = await endings.end(auction_id)
        if outcome is ENDED:
            return True
        if outcome is GONE or not isinstance(outcome, datetime):
            return False
        end = outcome  # still active: not due by the database clock yet, or held by a bid
        await asyncio.sleep(RETRY_SECONDS)
    return False


@task("madeinpk.start_auction")
async def start_auction(
    auction_id: int,
    context: Annotated[Context, TaskiqDepends()],
    start_time: str | None = None,
) -> bool:
    """Fired shortly before a scheduled auction's start time (given by the schedule, else
    read): wait for it, then start the auction, and whatever else is due with it. True if this
    call started it; a bid that reached it first, the sweep or another worker may have."""
    effects = task_effects(context.state)
    start: datetime | None = (
        datetime.fromisoformat(start_time)
        if start_time
        else await start_time_if_scheduled(auction_id)
    )
    for _ in range(CLOCK_RETRIES):
        if start is None:
            return False  # started already, or withdrawn
        wait = (start - utc_now()).total_seconds()
        if wait > MAX_WAIT_SECONDS:
            return False  # moved later: its new schedule (or the sweep) starts it
        await asyncio.sleep(max(0.0, wait))
        batch = await start_auctions([auction_id])
        effects.flush(batch.done)
        if any(s.auction_id == auction_id for s in batch.started):
            return True
        start = batch.still_scheduled.get(auction_id)  # not due by the database clock yet
        await asyncio.sleep(RETRY_SECONDS)
    return False


async def start_due(effects: Effects) -> int:
    """Start every scheduled auction whose time has come, a batch at a time."""
    started = 0
    while await any_due_to_start():
        batch = await start_auctions()
        effects.flush(batch.done)
        started += len(batch.started)
        if len(batch.started) < BATCH:
            break
    return started


@task("madeinpk.sweep_auctions", schedule=[{"interval": SWEEP_SECONDS}])
async def sweep_auctions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Start whatever is due to start, then end whatever is overdue: a lost schedule, a
    restart or a dead worker never leaves an auction closed or open for more than a couple of
    seconds. It goes through the same conditional writes as the scheduled starts and endings,
    so racing them is harmless (and costs nothing when nothing is due). Starts go first, so an
    auction whose whole time passed unseen opens and then ends, each once, in order."""
    try:
        await start_due(task_effects(context.state))
    except Exception:
        logger.exception("Scheduled auctions could not be started; the next sweep tries again")
    return await task_endings(context.state).sweep()


@task("madeinpk.forget_bid_keys", schedule=[{"interval": 3600}])
async def forget_bid_keys() -> int:
    """Hourly: idempotency keys past their 24 hours go (the table would otherwise grow with
    every keyed bid ever placed)."""
    return await forget_expired_keys()


@task("madeinpk.remind_ending")
async def remind_ending(auction_id: int, context: Annotated[Context, TaskiqDepends()]) -> bool:
    """Fired ``ENDING_SOON_MINUTES`` before the end (scheduled with the ending, or kicked at
    once when the auction is already that close): remind its watchers and bidders, unless
    someone already did. False: nothing to do (reminded, moved, ended)."""
    reminded, done = await send_reminders(context.state.settings, [auction_id])
    context.state.effects.flush(done)
    return bool(reminded)


@task("madeinpk.sweep_reminders", schedule=[{"interval": REMINDER_SWEEP_SECONDS}])
async def sweep_reminders(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Remind whatever is inside the window and not reminded yet: a lost schedule, a restart
    or an auction written by other means (sample data, the admin) still gets its reminders."""
    total = 0
    while True:
        reminded, done = await send_reminders(context.state.settings)
        context.state.effects.flush(done)
        total += len(reminded)
        if len(reminded) < REMINDER_BATCH:
            return total
