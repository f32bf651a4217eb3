"""Order tasks: unpaid orders past their deadline."""

from __future__ import annotations

from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.broker import task, task_effects, task_settings
from madeinpk.orders.service import expire_overdue_orders

SWEEP_SECONDS = 30


@task("madeinpk.expire_unpaid_orders", schedule=[{"interval": SWEEP_SECONDS}])
async def expire_unpaid_orders(context: Annotated[Context, TaskiqDepends()]) -> int:
    return await expire_overdue_orders(task_settings(context.state), task_effects(context.state))
