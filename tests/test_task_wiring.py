"""How work is handed to tasks: by name, with no import cycle between the broker and the tasks."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

from madeinpk.after_commit import END_AUCTION_TASK, SEND_EMAILS_TASK
from madeinpk.auctions import lifecycle
from madeinpk.orders.service import AUCTION_ORDERS
from madeinpk.settings import Settings
from madeinpk.tasks import broker


def test_every_task_handed_over_by_name_exists() -> None:
    registered = set(broker.get_all_tasks())
    assert {SEND_EMAILS_TASK, END_AUCTION_TASK} <= registered


def test_the_broker_and_the_services_import_no_task_module() -> None:
    """Tasks import the broker and the services, never the other way round."""
    probe = (
        "import sys, madeinpk.broker, madeinpk.after_commit, madeinpk.auctions.bidding, "
        "madeinpk.auctions.lifecycle, madeinpk.orders.service; "
        "print(sorted(m for m in sys.modules if m.startswith('madeinpk') and "
        "m.endswith('.tasks')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_task_registry_tells_endings_how_to_write_orders() -> None:
    """Lifecycle sits below orders: it declares ``OrderWriter``, orders answer it, and the
    registry every worker (and the app) loads hands the answer over."""
    assert lifecycle.order_writer() is AUCTION_ORDERS
    row, number = AUCTION_ORDERS.row(
        auction_id=1,
        product_id=2,
        buyer_id=3,
        seller_id=4,
        amount=Decimal("1000.00"),
        ended_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        address_id=None,
        settings=Settings.from_env({}),
        now=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )
    assert len(row) == len(AUCTION_ORDERS.columns) and number in row
