"""How work is handed to tasks: by name, with no import cycle between the broker and the tasks."""

from __future__ import annotations

import subprocess
import sys

from madeinpk.after_commit import END_AUCTION_TASK, SEND_EMAILS_TASK
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
