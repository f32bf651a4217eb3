"""Order tasks: unpaid orders past their deadline."""

from __future__ import annotations

from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.broker import task, task_effects, task_settings
from madeinpk.orders.offer_expiry import expire_due_offers
from madeinpk.orders.service import expire_overdue_orders

SWEEP_SECONDS = 30


@task("madeinpk.expire_unpaid_orders", schedule=[{"interval": SWEEP_SECONDS}])
async def expire_unpaid_orders(context: Annotated[Context, TaskiqDepends()]) -> int:
    effects = task_effects(context.state)
    expired = await expire_overdue_orders(task_settings(context.state), effects)
    # Second-chance offers left unanswered expire on the same sweep.
    await expire_due_offers(effects)
    return expired
