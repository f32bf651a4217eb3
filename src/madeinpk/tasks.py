"""Every Taskiq task of the project, registered on the one broker: what a worker runs
(``taskiq worker madeinpk.tasks:broker``) and what the scheduler and the embedded app load.

The broker itself imports no task, and no task module imports another domain's tasks: work is
handed over by task name (``after_commit``), so there is no import cycle to dodge."""

from __future__ import annotations

from madeinpk.auctions import tasks as auction_tasks
from madeinpk.auctions.lifecycle import register_order_writer
from madeinpk.broker import broker
from madeinpk.notifications import tasks as notification_tasks
from madeinpk.orders import tasks as order_tasks
from madeinpk.orders.service import AUCTION_ORDERS

TASK_MODULES = (auction_tasks, notification_tasks, order_tasks)

# Ending an auction writes its order: orders answer what lifecycle asks (it sits below them).
register_order_writer(AUCTION_ORDERS)

__all__ = ["TASK_MODULES", "broker"]
