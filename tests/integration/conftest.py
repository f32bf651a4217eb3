"""Test harness of the integration tier: real databases, a real uvicorn server, real sockets.

Only ``tests/integration/`` sees it: the unit tier (``tests/unit/``) imports no app and starts
nothing (``tests/test_tiers.py``).

The topology follows the environment, as the app does: with ``DATABASE_URL`` pointing at
PostgreSQL (and ``REDIS_URL``) the suite runs on the production stack, otherwise on the embedded
one. Either way the session gets a brand-new database, migrated by the real ``madeinpk migrate``
command, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# This run's task queue (and Redis key prefix), for every process it starts: a test run must not
# take (or leave) tasks on another run's queue, nor see another run's workers.
os.environ.setdefault("TASK_QUEUE", f"madeinpk-test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("SECRET_KEY", "test-secret-key-0123456789")

import asyncpg
import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from litestar import Litestar
from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import sort_table_classes

from madeinpk.accounts.tables import Role
from madeinpk.after_commit import Effects, by_name, reschedule_ending
from madeinpk.app import create_app
from madeinpk.cli import LEAN_WEBSOCKETS
from madeinpk.db.database import ALL_TABLES
from madeinpk.redis_io.heartbeat import ProcessRole, live_processes
from madeinpk.settings import Settings
from tests.integration.factories import UserHandle, make_auction, make_user

# Real hashing, fewer rounds: the suite creates hundreds of users. Production keeps 600,000.
BaseUser._pbkdf2_iteration_count = 1_000

ENGINE = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_other = {
        "postgres_only": pytest.mark.skip(reason="PostgreSQL run only"),
        "sqlite_only": pytest.mark.skip(reason="SQLite run only"),
        # The server paths a page uses are tested on both passes by the socket and REST tests;
        # driving the same page through Chromium twice would only double the suite's slowest tier.
        "browser": pytest.mark.skip(reason="browser tests run on the embedded pass"),
    }
    # By marker, not by keyword: a test's keywords also hold the names of its folders and module
    # (every test in tests/integration/browser/ has the keyword "browser", the search box's too).
    for item in items:
        if ENGINE == "sqlite" and item.get_closest_marker("postgres_only"):
            item.add_marker(skip_other["postgres_only"])
        if ENGINE == "postgres" and item.get_closest_marker("sqlite_only"):
            item.add_marker(skip_other["sqlite_only"])
        if ENGINE == "postgres" and item.get_closest_marker("browser"):
            item.add_marker(skip_other["browser"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class TestDatabase:
    url: str
    admin_url: str | None  # PostgreSQL: where CREATE/DROP DATABASE run

    @classmethod
    def create(cls, tmp: Path) -> TestDatabase:
        if ENGINE == "sqlite":
            return cls(
                url=f"sqlite:///{tmp / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}", admin_url=None
            )
        base = os.environ["DATABASE_URL"]
        name = f"madeinpk_test_{uuid.uuid4().hex[:10]}"
        admin_url = with_database(base, "postgres")
        asyncio.run(_pg_execute(admin_url, f'CREATE DATABASE "{name}"'))
        return cls(url=with_database(base, name), admin_url=admin_url)

    def drop(self) -> None:
        if self.admin_url is not None:
            name = urlsplit(self.url).path.strip("/")
            asyncio.run(
                _pg_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


async def _pg_execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the real migration command, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "madeinpk", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


class SmtpInbox:
    """A real SMTP server (aiosmtpd) in this process; tests read what it received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_next = 0  # answer this many deliveries with a temporary failure
        self.refused = 0

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(message_from_bytes(content, policy=email_policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        """Wait (up to 15 s) until ``count`` emails to ``address`` arrived."""
        try:
            async with asyncio.timeout(15):
                # Polled: aiosmtpd delivers on its own thread and loop.
                while len(self.to(address)) < count:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{count} email(s) to {address} not received") from None
        return self.to(address)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[SmtpInbox, int]) -> SmtpInbox:
    smtp_server[0].messages.clear()
    smtp_server[0].refuse_next = smtp_server[0].refused = 0
    return smtp_server[0]


@pytest.fixture(scope="session")
def test_env(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: tuple[SmtpInbox, int]
) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("madeinpk")
    database = TestDatabase.create(tmp)
    env = {
        "DATABASE_URL": database.url,
        "MEDIA_ROOT": str(tmp / "media"),
        "SECRET_KEY": "test-secret-key-0123456789",
        "DEBUG": "true",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server[1]),
        "TASK_QUEUE": os.environ["TASK_QUEUE"],
        # Counters the app keeps in Redis (login throttle) are this run's alone.
        "REDIS_KEY_PREFIX": os.environ["TASK_QUEUE"],
        # One public URL for the app, workers and scheduler: links in emails must agree.
        "SITE_URL": "https://madeinpk.test",
        # Bidders may retract a bid for a minute (docs/auction-rules.md § 10; default off).
        "RETRACT_SECONDS": "60",
        # No ending-soon reminders on the suite's server: its tests count notifications and
        # emails exactly (tests/integration/auctions/test_watchlist.py runs a server with them).
        "ENDING_SOON_MINUTES": "0",
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    result = migrate(env)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield env
    finally:
        database.drop()


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    return Settings.from_env({**test_env, "PORT": str(free_port())})


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: Litestar

    @property
    def effects(self) -> Effects:
        """The app's effects, and through them its task broker and schedule source."""
        effects: Effects = self.app.state.effects
        return effects

    async def schedule_auction_end(self, auction_id: int, end_time: datetime | None) -> None:
        """Schedule, move or (``None``) cancel an ending directly, as the app does after commit."""
        await reschedule_ending(
            self.effects.broker, self.effects.schedule_source, auction_id, end_time
        )

    async def kick(self, task_name: str, *args: object) -> None:
        """Hand a task to the workers (embedded: to the app) by name, as the app does."""
        await by_name(task_name, self.effects.broker).kiq(*args)


@pytest.fixture(scope="session")
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app in a real uvicorn server on this test loop, so tests may also query the
    database directly through the same engine and pool."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        lifespan="on",
        log_level="warning",
        ws=LEAN_WEBSOCKETS,
        ws_per_message_deflate=False,  # as `madeinpk serve`: events go out as shared frames
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    assert_bound_to(settings)
    await empty_tables()  # migrations bring reference data; tests start from nothing
    yield LiveServer(url=f"http://127.0.0.1:{settings.port}", settings=settings, app=app)
    server.should_exit = True
    await task


class TaskProcess:
    """A real ``taskiq`` process (worker or scheduler) that a test may stop and start again.

    ``start`` returns once the process is up by the health check an operator has (``madeinpk
    health worker|scheduler``: a heartbeat in Redis, here one newer than this start), so a
    test's clock does not start while Python is still importing."""

    def __init__(self, env: dict[str, str], log: Path, role: ProcessRole, *args: str) -> None:
        self.env = {**os.environ, **env}
        self.settings = Settings.from_env(self.env)
        self.role = role
        self.args = [sys.executable, "-m", "taskiq", *args]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def up(self, since: float = 0.0) -> bool:
        """Whether a process of this role beats (one that started at ``since`` or later)."""
        return any(b.started >= since for b in live_processes(self.settings, self.role))

    def start(self) -> None:
        assert self.process is None
        started = time.time()
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=output, stderr=output, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not self.up(since=started):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.args} did not start; see {self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL, as a crash would: the whole group, the worker's children too."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


def worker_process(env: dict[str, str], log: Path) -> TaskProcess:
    """``taskiq worker madeinpk.tasks:broker`` with one worker process, as the Procfile runs it."""
    return TaskProcess(env, log, "worker", "worker", "madeinpk.tasks:broker", "--workers", "1")


def scheduler_process(env: dict[str, str], log: Path) -> TaskProcess:
    """``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1``, the Procfile's."""
    return TaskProcess(
        env,
        log,
        "scheduler",
        *("scheduler", "madeinpk.scheduling:scheduler", "--update-interval", "1"),
    )


@pytest.fixture(scope="session")
def task_worker(test_env: dict[str, str]) -> Iterator[TaskProcess | None]:
    """On the production topology tasks go through Redis to a real ``taskiq worker`` process;
    embedded, they run inside the app and there is no worker (None)."""
    if "REDIS_URL" not in test_env:
        yield None
        return
    worker = worker_process(test_env, Path(test_env["MEDIA_ROOT"]).parent / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def task_scheduler(test_env: dict[str, str]) -> Iterator[None]:
    """Exactly one ``taskiq scheduler`` on the production topology, re-reading every second."""
    if "REDIS_URL" not in test_env:
        yield
        return
    scheduler = scheduler_process(test_env, Path(test_env["MEDIA_ROOT"]).parent / "scheduler.log")
    scheduler.start()
    try:
        yield
    finally:
        scheduler.stop()


def assert_bound_to(settings: Settings) -> None:
    """Every table talks to the configured database, never to a default found elsewhere."""
    engine = BaseUser._meta.db
    if isinstance(engine, PostgresEngine):
        assert engine.config["dsn"] == settings.database.url
    else:
        assert engine.path == str(settings.database.sqlite_path)  # type: ignore[attr-defined]
    assert all(table._meta.db is engine for table in ALL_TABLES)


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        yield http


# --- the people and the auction most tests start from (a test file may declare its own) -------


@pytest.fixture
async def seller(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings, role=Role.seller)


@pytest.fixture
async def buyer(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


@pytest.fixture
async def auction(seller: UserHandle) -> int:
    return await make_auction(seller)


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from empty tables (tests never depend on each other's rows)."""
    yield
    if "live_server" in request.fixturenames:
        await empty_tables()


async def empty_tables() -> None:
    engine = BaseUser._meta.db
    names = ", ".join(f'"{t._meta.tablename}"' for t in ALL_TABLES)
    if isinstance(engine, PostgresEngine):
        await engine.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        for table in reversed(sort_table_classes(ALL_TABLES)):
            await engine.run_ddl(f'DELETE FROM "{table._meta.tablename}"')
