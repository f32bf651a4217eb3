"""Auction tasks: the one-off ending at an auction's end time, and the sweep behind it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.auctions.lifecycle import due_auction_ids, finish_auction
from madeinpk.broker import broker, task_events, task_settings

SWEEP_SECONDS = 2
SWEEP_CONCURRENCY = 8


@broker.task(task_name="madeinpk.end_auction")
async def end_auction(auction_id: int, context: Annotated[Context, TaskiqDepends()]) -> bool:
    return await finish_auction(
        auction_id, task_settings(context.state), task_events(context.state)
    )


@broker.task(task_name="madeinpk.sweep_auctions", schedule=[{"interval": SWEEP_SECONDS}])
async def sweep_auctions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """End whatever is overdue: a lost schedule, a restart or a dead worker never leaves an
    auction open for more than a couple of seconds. Ending is idempotent, so racing the
    scheduled task is harmless."""
    settings, events = task_settings(context.state), task_events(context.state)
    limit = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def finish(auction_id: int) -> bool:
        async with limit:
            return await finish_auction(auction_id, settings, events)

    ended = 0
    while due := await due_auction_ids():
        results = await asyncio.gather(*(finish(a) for a in due))
        ended += sum(results)
        if not any(results):
            break
    return ended
