"""PostgreSQL restarts under load: clean 503s and error frames while it is away (no 500, no
driver text), and the app recovers by itself, its pool discarding the connections the restart
closed. A private cluster (``pg_createcluster``) so the shared server is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine

from madeinpk.accounts.tables import Role
from madeinpk.asgi.outages import UNAVAILABLE
from madeinpk.db.engines import bind_tables
from tests.integration.conftest import LiveServer, migrate, with_database
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.processes import AppProcess, PostgresCluster, RedisServer
from tests.integration.sockets import Watch, watch

pytestmark = pytest.mark.postgres_only

SOCKET_ERRORS = {"Your bid could not be processed, please try again"}


@dataclass
class PrivateDatabase:
    cluster: PostgresCluster
    url: str


@pytest.fixture(scope="module")
def private_database(test_env: dict[str, str]) -> Iterator[PrivateDatabase]:
    if reason := PostgresCluster.unavailable_reason():
        pytest.skip(reason)
    cluster = PostgresCluster()
    cluster.create()
    try:
        url = with_database(cluster.url, "madeinpk")
        asyncio.run(_execute(cluster.url, 'CREATE DATABASE "madeinpk"'))
        result = migrate({**test_env, "DATABASE_URL": url})
        assert result.returncode == 0, result.stdout + result.stderr
        yield PrivateDatabase(cluster, url)
    finally:
        cluster.drop()


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class Scene:
    app: AppProcess
    database: PrivateDatabase
    auction_id: int
    bidders: list[UserHandle]
    socket_bidder: UserHandle


@pytest.fixture
async def scene(
    private_database: PrivateDatabase,
    test_env: dict[str, str],
    live_server: LiveServer,
    tmp_path: Path,
) -> AsyncIterator[Scene]:
    # Rows go into the private database through the same factories, bound there for a moment.
    suite_engine = BaseUser._meta.db
    bind_tables(PostgresEngine(config={"dsn": private_database.url}))
    try:
        seller = await make_user(live_server.settings, role=Role.seller)
        bidders = [await make_user(live_server.settings) for _ in range(4)]
        socket_bidder = await make_user(live_server.settings)
        auction_id = await make_auction(seller)
    finally:
        bind_tables(suite_engine)
    redis = RedisServer()
    redis.start()
    app = AppProcess(
        {**test_env, "DATABASE_URL": private_database.url, "REDIS_URL": redis.url},
        tmp_path / "app.log",
    )
    app.start()
    try:
        await app.wait_until_up()
        yield Scene(app, private_database, auction_id, bidders, socket_bidder)
    finally:
        app.kill()
        redis.kill()


@dataclass
class Outcome:
    sent: float
    at: float
    status: int
    body: object


async def rest_load(scene: Scene, stop: asyncio.Event, amounts: Iterator[int]) -> list[Outcome]:
    """Four bidders, each bidding every ~0.1 s until told to stop."""
    outcomes: list[Outcome] = []

    async def bidder(user: UserHandle, http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            response = await http.post(
                f"/api/auctions/{scene.auction_id}/place_bid/",
                json={"amount": next(amounts)},
                headers=user.auth,
            )
            outcomes.append(Outcome(sent, time.monotonic(), response.status_code, response.json()))
            await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=scene.app.url, timeout=30) as http:
        await asyncio.gather(*(bidder(user, http) for user in scene.bidders))
    return outcomes


async def socket_load(ws: Watch, stop: asyncio.Event, amounts: Iterator[int]) -> list[str]:
    """Bids over the socket; returns the error messages it was sent."""
    errors: list[str] = []
    while not stop.is_set():
        await ws.send({"type": "place_bid", "amount": next(amounts)})
        await asyncio.sleep(0.2)
    with contextlib.suppress(TimeoutError):
        while True:
            message = await ws.receive(seconds=1)
            if message["type"] == "error":
                errors.append(message["message"])
    return errors


async def test_clean_errors_during_a_restart_under_load_then_recovery(
    scene: Scene, record_property: Callable[[str, object], None]
) -> None:
    amounts = itertools.count(3000, 10)
    stop = asyncio.Event()
    async with watch(scene.app.url, scene.auction_id, scene.socket_bidder.token) as ws:
        rest = asyncio.create_task(rest_load(scene, stop, amounts))
        sockets = asyncio.create_task(socket_load(ws, stop, amounts))
        await asyncio.sleep(1.0)
        restart_began = time.monotonic()
        await asyncio.to_thread(scene.database.cluster.ctl, "restart")
        restart_done = time.monotonic()
        await asyncio.sleep(3.0)
        stop.set()
        outcomes, socket_errors = await rest, await sockets
        # The socket that saw failures bids normally again (no transaction stuck to it).
        final = next(amounts)
        await ws.send({"type": "place_bid", "amount": final})
        for _ in range(50):
            reply = await ws.receive()
            assert reply["type"] != "error", reply
            if reply["data"]["amount"] == f"{final}.00":
                break
        else:
            raise AssertionError("the socket's bid after the restart was never answered")

    statuses = {o.status for o in outcomes}
    log = scene.app.output()
    assert statuses <= {201, 400, 503}, log[log.find("Unhandled error") :][:6000]
    for outcome in outcomes:
        if outcome.status == 503:
            assert outcome.body == {"detail": UNAVAILABLE}
        elif outcome.status == 400:  # a rival's concurrent higher bid: a business answer
            assert isinstance(outcome.body, dict) and "amount" in outcome.body
    for message in socket_errors:  # the bid engine's words only, never a driver's
        assert message in SOCKET_ERRORS or message.startswith("Bid must be higher"), message
    unavailable = [o for o in outcomes if o.status == 503]
    # Once the server is back, the pool holds no dead connection: nothing sent after that
    # fails, and (leaked connections would exhaust the pool) everything gets an answer.
    assert not [o for o in unavailable if o.sent > restart_done]
    after = [o for o in outcomes if o.sent > restart_done]
    assert after and all(o.status in (201, 400) for o in after)
    outage_began = unavailable[0].at if unavailable else restart_began
    last_failure = unavailable[-1].at if unavailable else restart_began
    first_back = min(o.at for o in outcomes if o.status == 201 and o.at > last_failure)
    record_property("restart_command_s", round(restart_done - restart_began, 2))
    record_property("bids_503", len(unavailable))
    record_property("unavailable_for_s", round(first_back - outage_began, 2))
    print(
        f"pg_ctlcluster restart took {restart_done - restart_began:.2f} s; {len(outcomes)} REST "
        f"bids: {sum(o.status == 201 for o in outcomes)} accepted, {len(unavailable)} answered "
        f"503; accepted again {first_back - outage_began:.2f} s after the first 503 "
        f"({first_back - restart_done:+.2f} s from the restart command's return); "
        f"socket error frames: {len(socket_errors)}"
    )
    assert "Unhandled error" not in scene.app.output()  # the 500 handler's line


async def test_stopped_database_is_not_ready_then_recovers(
    scene: Scene, record_property: Callable[[str, object], None]
) -> None:
    async with httpx.AsyncClient(base_url=scene.app.url, timeout=30) as http:
        assert (await http.get("/health/ready")).status_code == 200
        await asyncio.to_thread(scene.database.cluster.ctl, "stop")
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"]["database"] != "ok" and body["checks"]["redis"] == "ok"
        assert body["detail"] == "Not ready: database"
        assert (await http.get("/health/live")).status_code == 200
        page = await http.get(f"/api/auctions/{scene.auction_id}/")
        assert (page.status_code, page.json()) == (503, {"detail": UNAVAILABLE})
        assert page.headers["retry-after"]

        started = time.monotonic()
        await asyncio.to_thread(scene.database.cluster.ctl, "start")
        for _ in range(600):
            if (await http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        back = time.monotonic() - started
        assert (await http.get(f"/api/auctions/{scene.auction_id}/")).status_code == 200
    record_property("ready_after_start_s", round(back, 2))
    print(f"ready again {back:.2f} s after `pg_ctlcluster start` began")
    took = await scene.app.terminate()
    print(f"SIGTERM: exited in {took:.2f} s")


async def test_a_transaction_whose_connection_died_leaves_nothing_behind(
    live_server: LiveServer, test_env: dict[str, str]
) -> None:
    """The server ends this transaction's connection mid-way (as a restart does): the error
    says so, the task is no longer "in" the dead transaction, and the pool lost no slot."""
    engine = BaseUser._meta.db
    assert isinstance(engine, PostgresEngine) and engine.pool is not None
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError)):
        async with engine.transaction():
            [row] = await BaseUser.raw("SELECT pg_backend_pid() AS pid")
            await _execute(test_env["DATABASE_URL"], f"SELECT pg_terminate_backend({row['pid']})")
            await BaseUser.raw("SELECT 1")
    assert engine.current_transaction.get() is None
    size = engine.pool.get_max_size()
    held = [await asyncio.wait_for(engine.pool.acquire(), 5) for _ in range(size)]
    for connection in held:
        await engine.pool.release(connection)
    assert await BaseUser.count() >= 0  # and the pool serves queries again
