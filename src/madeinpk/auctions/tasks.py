"""Auction tasks: the one-off ending at an auction's end time, and the sweep behind it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.auctions.bidding import forget_expired_keys
from madeinpk.auctions.lifecycle import due_auction_ids, end_time_if_active, finish_auction
from madeinpk.broker import broker, task_effects, task_settings
from madeinpk.timestamps import utc_now

SWEEP_SECONDS = 2
SWEEP_CONCURRENCY = 8
# The scheduled task ends an auction within milliseconds of its end; the sweep only takes what
# is this late, so the two do not race for the same rows (a lost schedule ends within ~4 s).
SWEEP_GRACE = timedelta(seconds=2)
_sweeping = asyncio.Lock()  # one sweep at a time in a worker process


# How long a task fired ahead of the end may wait for it; a later end was rescheduled, and the
# new schedule (or the sweep) will end it.
MAX_WAIT_SECONDS = 5.0
CLOCK_RETRIES = 10  # the database clock decides; allow this worker's to run a little ahead


@broker.task(task_name="madeinpk.end_auction")
async def end_auction(auction_id: int, context: Annotated[Context, TaskiqDepends()]) -> bool:
    """Fired shortly before the end time: wait for it, then end the auction."""
    settings, effects = task_settings(context.state), task_effects(context.state)
    end_time = await end_time_if_active(auction_id)
    if end_time is None:
        return False
    wait = (end_time - utc_now()).total_seconds()
    if wait > MAX_WAIT_SECONDS:
        return False
    await asyncio.sleep(max(0.0, wait))
    for _ in range(CLOCK_RETRIES):
        if await finish_auction(auction_id, settings, effects):
            return True
        if await end_time_if_active(auction_id) is None:
            return False  # someone else ended it
        await asyncio.sleep(0.05)
    return False


@broker.task(task_name="madeinpk.sweep_auctions", schedule=[{"interval": SWEEP_SECONDS}])
async def sweep_auctions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """End whatever is overdue: a lost schedule, a restart or a dead worker never leaves an
    auction open for more than a couple of seconds. Ending is idempotent, so racing the
    scheduled task is harmless."""
    if _sweeping.locked():
        return 0  # the previous sweep is still at it
    settings, effects = task_settings(context.state), task_effects(context.state)
    limit = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def finish(auction_id: int) -> bool:
        async with limit:
            return await finish_auction(auction_id, settings, effects)

    ended = 0
    async with _sweeping:
        while due := await due_auction_ids(SWEEP_GRACE):
            results = await asyncio.gather(*(finish(a) for a in due))
            ended += sum(results)
            if not any(results):
                break
    return ended


@broker.task(task_name="madeinpk.forget_bid_keys", schedule=[{"interval": 3600}])
async def forget_bid_keys() -> int:
    """Hourly: idempotency keys past their 24 hours go (the table would otherwise grow with
    every keyed bid ever placed)."""
    return await forget_expired_keys()
