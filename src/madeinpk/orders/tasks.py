"""Order tasks: unpaid orders past their deadline."""

from __future__ import annotations

from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.broker import broker, task_settings
from madeinpk.orders.service import expire_order, overdue_order_ids

SWEEP_SECONDS = 30


@broker.task(task_name="madeinpk.expire_unpaid_orders", schedule=[{"interval": SWEEP_SECONDS}])
async def expire_unpaid_orders(context: Annotated[Context, TaskiqDepends()]) -> int:
    from madeinpk.notifications.tasks import send_email

    settings = task_settings(context.state)
    expired = 0
    for order_id in await overdue_order_ids():
        email_ids = await expire_order(order_id, settings)
        expired += 1
        for email_id in email_ids:
            await send_email.kiq(email_id)
    return expired
