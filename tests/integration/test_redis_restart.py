"""Redis dies and comes back (SIGKILL, restarted 1 s later on the same port, data lost): the app
reconnects and resubscribes by itself, watchers whose stream broke are closed with 1012 and get
every bid once reconnected, the task worker and the scheduler carry on, and SIGTERM stays quick
even while Redis is down. Real processes throughout: a private redis-server, a uvicorn app,
``taskiq worker`` and ``taskiq scheduler``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.live.recovery import SERVICE_RESTART
from tests.integration.conftest import LiveServer, TaskProcess, scheduler_process, worker_process
from tests.integration.factories import make_auction, make_user
from tests.integration.processes import AppProcess, RedisServer
from tests.integration.sockets import Watch, watch

pytestmark = pytest.mark.postgres_only

WATCHERS = 20
BIDS = 8


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def app_on_private_redis(
    test_env: dict[str, str], private_redis: RedisServer, tmp_path: Path
) -> AsyncIterator[AppProcess]:
    app = AppProcess({**test_env, "REDIS_URL": private_redis.url}, tmp_path / "app.log")
    app.start()
    try:
        await app.wait_until_up()
        yield app
    finally:
        app.kill()


async def restart(server: RedisServer, down_for: float = 1.0) -> float:
    """Kill Redis, keep it down ``down_for`` seconds, start it again; returns the restart's
    monotonic time."""
    server.kill()
    await asyncio.sleep(down_for)
    server.start()
    return time.monotonic()


async def wait_ready(url: str, limit: float = 20) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url) as http:
        while (await http.get("/health/ready")).status_code != 200:
            if time.monotonic() - started > limit:
                raise AssertionError(f"{url} not ready {limit} s after Redis came back")
            await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_watchers_are_told_and_bids_flow_again_after_a_redis_restart(
    app_on_private_redis: AppProcess,
    private_redis: RedisServer,
    live_server: LiveServer,
    record_property: Callable[[str, object], None],
) -> None:
    app = app_on_private_redis
    seller = await make_user(live_server.settings, role=Role.seller)
    bidders = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller)
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(base_url=app.url) as http:
        watchers = [
            await stack.enter_async_context(watch(app.url, auction_id)) for _ in range(WATCHERS)
        ]
        first = await http.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3000}, headers=bidders[0].auth
        )
        assert first.status_code == 201, first.text
        for watcher in watchers:
            assert (await watcher.receive())["data"]["amount"] == "3000.00"

        async def closed(watcher: Watch) -> tuple[int | None, float]:
            code, _ = await watcher.closed_with(seconds=10)
            return code, time.monotonic()

        # Events published while Redis is down are gone: every watcher is told so, at once.
        waiting = asyncio.gather(*(closed(w) for w in watchers))
        killed = time.monotonic()
        restarted = await restart(private_redis)
        closes = await waiting
        assert {code for code, _ in closes} == {SERVICE_RESTART}, closes
        told_after = max(at for _, at in closes) - killed
        ready_after = await wait_ready(app.url)
        record_property("watchers_closed_within_s", round(told_after, 2))
        record_property("ready_after_restart_s", round(ready_after, 2))
        print(f"{WATCHERS} watchers closed within {told_after:.2f} s of the kill (1 s outage)")
        print(f"app ready {ready_after:.2f} s after Redis restarted")

    # The clients reconnect, as the browser does on 1012, and see every bid.
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(base_url=app.url) as http:
        watchers = [
            await stack.enter_async_context(watch(app.url, auction_id)) for _ in range(WATCHERS)
        ]
        amounts = [3100 + 100 * i for i in range(BIDS)]
        for i, amount in enumerate(amounts):
            response = await http.post(
                f"/api/auctions/{auction_id}/place_bid/",
                json={"amount": amount},
                headers=bidders[(i + 1) % 2].auth,
            )
            assert response.status_code == 201, response.text
        first_bid_back = time.monotonic() - restarted
        for watcher in watchers:
            received = [(await watcher.receive())["data"]["amount"] for _ in amounts]
            assert received == [f"{a}.00" for a in amounts]
        channels = private_redis.client().pubsub_channels()
        channel = f"{live_server.settings.channel_prefix}:auction:{auction_id}"
        assert channel.encode() in channels, channels
        print(f"{BIDS} bids delivered to {WATCHERS} watchers {first_bid_back:.2f} s after restart")
        took = await app.terminate()  # with every watcher still connected
        record_property("sigterm_with_watchers_s", round(took, 2))
        print(f"SIGTERM with {WATCHERS} watchers connected: exited in {took:.2f} s")

    log = app.output()
    assert "Redis pub/sub reconnected after" in log
    assert "Traceback" not in log, log


async def test_sigterm_is_quick_while_redis_is_down(
    app_on_private_redis: AppProcess,
    private_redis: RedisServer,
    live_server: LiveServer,
    record_property: Callable[[str, object], None],
) -> None:
    """The reported hang: queued events and a dead publisher kept shutdown waiting for ever."""
    app = app_on_private_redis
    seller = await make_user(live_server.settings, role=Role.seller)
    bidders = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller)
    async with watch(app.url, auction_id) as watcher, httpx.AsyncClient(base_url=app.url) as http:
        private_redis.kill()
        assert (await watcher.closed_with(seconds=10))[0] == SERVICE_RESTART
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] != "ok"
        assert ready.json()["checks"]["broker"] != "ok"
        # Bids still commit (PostgreSQL is the truth); their events cannot be published, nor
        # their outbid emails queued (the outbox sweep sends those once Redis is back).
        for i, amount in enumerate((3000, 3100, 3200)):
            response = await http.post(
                f"/api/auctions/{auction_id}/place_bid/",
                json={"amount": amount},
                headers=bidders[i % 2].auth,
            )
            assert response.status_code == 201, response.text
    took = await app.terminate()
    record_property("sigterm_with_redis_down_s", round(took, 2))
    print(f"SIGTERM with Redis down: exited in {took:.2f} s")
    log = app.output()
    assert "not queued, Redis unreachable" in log
    assert "Traceback" not in log, log


@pytest.fixture
def task_processes(
    test_env: dict[str, str], private_redis: RedisServer, tmp_path: Path
) -> Iterator[tuple[TaskProcess, TaskProcess]]:
    env = {**test_env, "REDIS_URL": private_redis.url}
    worker = worker_process(env, tmp_path / "worker.log")
    scheduler = scheduler_process(env, tmp_path / "scheduler.log")
    worker.start()
    scheduler.start()
    try:
        yield worker, scheduler
    finally:
        scheduler.stop()
        worker.stop()


async def deliveries(server: RedisServer, stream: str) -> tuple[int, int]:
    """(entries read by the consumer group, entries pending an ack); (0, 0) with no group."""
    client = server.client()
    try:
        groups = client.xinfo_groups(stream)
    except Exception:
        return 0, 0
    finally:
        client.close()
    if not groups:
        return 0, 0
    return int(groups[0].get("entries-read") or 0), int(groups[0]["pending"])


async def test_worker_and_scheduler_carry_on_after_a_redis_restart(
    task_processes: tuple[TaskProcess, TaskProcess],
    private_redis: RedisServer,
    test_env: dict[str, str],
    record_property: Callable[[str, object], None],
) -> None:
    """The scheduler kicks the 2-second sweeps into the stream and the worker reads and acks
    them: after the restart (which loses the stream and its consumer group) both must resume,
    without a process restart."""
    worker, scheduler = task_processes
    stream = test_env["TASK_QUEUE"]
    await wait_for_deliveries(private_redis, stream, at_least=2)

    restarted = await restart(private_redis, down_for=3)  # a few scheduler ticks in the dark
    read = await wait_for_deliveries(private_redis, stream, at_least=2)
    resumed_after = time.monotonic() - restarted
    record_property("tasks_resumed_after_restart_s", round(resumed_after, 2))
    print(f"tasks flowing again {resumed_after:.2f} s after Redis restarted ({read} read)")
    assert worker.process is not None and worker.process.poll() is None
    assert scheduler.process is not None and scheduler.process.poll() is None
    assert "Task queue reconnected" in worker.log.read_text()
    for process in (worker, scheduler):
        assert "Traceback" not in process.log.read_text(), process.log.read_text()


async def wait_for_deliveries(server: RedisServer, stream: str, at_least: int) -> int:
    """Until the group has read ``at_least`` tasks and acked all but the one in flight."""
    deadline = time.monotonic() + 20
    while True:
        read, pending = await deliveries(server, stream)
        if read >= at_least and pending <= 1:
            return read
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks not flowing: {read} read, {pending} pending")
        await asyncio.sleep(0.1)
