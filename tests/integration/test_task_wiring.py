"""How work is handed to tasks: by name, with no import cycle between the broker and the tasks;
and every broker and scheduler built from the settings of the process (or app) that runs it."""

from __future__ import annotations

import inspect
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from taskiq import InMemoryBroker, TaskiqEvents
from taskiq.schedule_sources import LabelScheduleSource

from madeinpk import scheduling, tasks
from madeinpk.after_commit import (
    END_AUCTION_TASK,
    REMIND_ENDING_TASK,
    SEND_EMAILS_TASK,
    START_AUCTION_TASK,
)
from madeinpk.app import create_app
from madeinpk.auctions.lifecycle.batching import Endings
from madeinpk.orders.service import AUCTION_ORDERS
from madeinpk.redis_io.redis_tasks import ReconnectingScheduleSource, ReconnectingStreamBroker
from madeinpk.redis_io.schedule_source import MemoryScheduleSource
from madeinpk.settings import Settings

NOWHERE = "redis://127.0.0.1:9/0"  # never connected to: building a broker connects to nothing


def test_every_task_handed_over_by_name_exists() -> None:
    registered = set(tasks.build_task_broker(Settings.from_env({})).get_all_tasks())
    assert {
        SEND_EMAILS_TASK,
        END_AUCTION_TASK,
        START_AUCTION_TASK,
        REMIND_ENDING_TASK,
    } <= registered
    assert registered == {declared.name for declared in tasks.TASKS}


def test_the_worker_and_the_scheduler_are_built_from_the_settings_they_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``taskiq worker madeinpk.tasks:broker`` and ``taskiq scheduler
    madeinpk.scheduling:scheduler`` name factories (taskiq calls a function it is given): each
    reads the environment once, when the process starts, and builds everything from that."""
    assert inspect.isfunction(tasks.broker) and inspect.isfunction(scheduling.scheduler)
    monkeypatch.setenv("REDIS_URL", NOWHERE)
    monkeypatch.setenv("TASK_QUEUE", "wiring-queue")
    worker = tasks.broker()
    assert isinstance(worker, ReconnectingStreamBroker)
    assert (worker.queue_name, worker.consumer_group_name) == ("wiring-queue", "wiring-queue")
    assert set(worker.get_all_tasks()) == {declared.name for declared in tasks.TASKS}
    assert worker.event_handlers[TaskiqEvents.WORKER_STARTUP]
    scheduler = scheduling.scheduler()
    assert isinstance(scheduler, scheduling.BeatingScheduler)
    label_source, ending_source = scheduler.sources
    assert isinstance(label_source, LabelScheduleSource) and label_source.broker is scheduler.broker
    assert isinstance(ending_source, ReconnectingScheduleSource)
    assert ending_source._prefix == "wiring-queue:schedule"
    assert scheduler.heartbeat.index == "wiring-queue:health:scheduler"


def test_the_app_builds_its_broker_from_the_settings_it_gets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whatever the environment says, the app's tasks go where its own settings say."""
    monkeypatch.setenv("REDIS_URL", NOWHERE)
    base = {"MEDIA_ROOT": str(tmp_path / "media"), "DEBUG": "true"}
    embedded = create_app(Settings.from_env(base)).state.effects
    assert isinstance(embedded.broker, InMemoryBroker)
    assert isinstance(embedded.schedule_source, MemoryScheduleSource)
    monkeypatch.delenv("REDIS_URL")
    settings = Settings.from_env({**base, "REDIS_URL": NOWHERE, "TASK_QUEUE": "app-queue"})
    effects = create_app(settings).state.effects
    assert isinstance(effects.broker, ReconnectingStreamBroker)
    assert effects.broker.queue_name == "app-queue"
    assert effects.broker.state.settings is settings
    assert isinstance(effects.schedule_source, ReconnectingScheduleSource)


def test_the_broker_and_the_services_import_no_task_module() -> None:
    """Tasks import the broker and the services, never the other way round."""
    probe = (
        "import sys, madeinpk.broker, madeinpk.after_commit, madeinpk.auctions.bidding.desk, "
        "madeinpk.auctions.lifecycle.endings, madeinpk.auctions.lifecycle.batching, "
        "madeinpk.orders.service; "
        "print(sorted(m for m in sys.modules if m.startswith('madeinpk') and "
        "m.endswith('.tasks')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_assembly_tells_endings_how_to_write_orders(tmp_path: Path) -> None:
    """Lifecycle sits below orders: it declares ``OrderWriter``, orders answer it, and the
    assembly hands the answer to each process's ``Endings`` (the app's, and the worker's)."""
    settings = Settings.from_env({"MEDIA_ROOT": str(tmp_path / "media"), "DEBUG": "true"})
    app = create_app(settings)
    endings = app.state.endings
    assert isinstance(endings, Endings) and endings.orders is AUCTION_ORDERS
    assert app.state.effects.broker.state.endings is endings  # what its tasks are given
    assert tasks.build_endings(settings, app.state.effects).orders is AUCTION_ORDERS
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
