"""Reads off the primary, on a real streaming replica (``pg_basebackup -R``) of a private primary.

Where a read was served is proved by staleness, not by mocks: with the replica's replay paused, a
change made on the primary is missing from what the replica serves. Three app processes share the
pair and the suite's Redis: two tolerant ones (``DATABASE_REPLICA_MAX_LAG`` 60 s: a paused replica
stays in service, so a stale answer shows the replica served it) and a strict one (2 s: a paused
replica is soon skipped).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine

from madeinpk.accounts.tables import Role
from madeinpk.db.engines import bind_tables
from madeinpk.db.pg_engine import CleanupPostgresEngine
from madeinpk.db.read_replicas import ReplicaRouter
from madeinpk.settings import Settings
from tests.integration.conftest import migrate
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.processes import AppProcess, StreamingReplicaPair

pytestmark = pytest.mark.postgres_only

CHECK_INTERVAL = "0.2"


@dataclass
class Replicated:
    pair: StreamingReplicaPair
    primary_url: str
    replica_url: str
    tolerant: AppProcess  # max lag 60 s
    other: AppProcess  # max lag 60 s: another process behind the same balancer
    strict: AppProcess  # max lag 2 s
    seller: UserHandle
    buyer: UserHandle
    auction_id: int
    product_id: int

    async def primary(self, statement: str, *args: Any) -> Any:
        return await _fetch(self.primary_url, statement, *args)

    async def replica(self, statement: str, *args: Any) -> Any:
        return await _fetch(self.replica_url, statement, *args)

    async def caught_up(self) -> None:
        """Until the replica has replayed everything the primary has logged so far (inserted:
        a lock taken by a transaction still open is logged but not yet written out)."""
        target = await self.primary("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        await until(
            lambda: self.replica("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"),
            lambda replayed: replayed >= target[0][0],
        )


async def _fetch(url: str, statement: str, *args: Any) -> list[Any]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def until(probe: Any, done: Any, attempts: int = 600) -> Any:
    """Polls ``probe`` (every 50 ms, at most half a minute) until ``done`` says yes."""
    for _ in range(attempts):
        value = await probe()
        if not isinstance(value, list) or value:
            result = value[0][0] if isinstance(value, list) else value
            if done(result):
                return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached; last value {value!r}")


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingReplicaPair]:
    if reason := StreamingReplicaPair.unavailable_reason():
        pytest.skip(reason)
    pair = StreamingReplicaPair()
    try:
        pair.create()
        yield pair
    finally:
        pair.drop()


@pytest.fixture(scope="module")
async def replicated(
    pair: StreamingReplicaPair,
    test_env: dict[str, str],
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Replicated]:
    primary_url = pair.url(pair.primary_port, "madeinpk")
    replica_url = pair.url(pair.replica_port, "madeinpk")
    await _fetch(pair.url(pair.primary_port), 'CREATE DATABASE "madeinpk"')
    # Its own task queue: nothing this module's apps schedule reaches the suite's worker.
    queue = f"madeinpk-replicas-{uuid.uuid4().hex[:8]}"
    env = {**test_env, "DATABASE_URL": primary_url, "TASK_QUEUE": queue, "REDIS_KEY_PREFIX": queue}
    result = migrate(env)
    assert result.returncode == 0, result.stdout + result.stderr
    suite_engine = BaseUser._meta.db
    bind_tables(PostgresEngine(config={"dsn": primary_url}))
    try:
        seller = await make_user(settings, role=Role.seller)
        buyer = await make_user(settings)
        auction_id = await make_auction(seller, name="Ajrak shawl")
    finally:
        bind_tables(suite_engine)
    logs = tmp_path_factory.mktemp("replicas")
    apps = [
        AppProcess(
            {
                **env,
                "DATABASE_REPLICA_URLS": replica_url,
                "DATABASE_REPLICA_MAX_LAG": max_lag,
                "DATABASE_REPLICA_CHECK_INTERVAL": CHECK_INTERVAL,
                "BID_RATE_LIMIT": "0",
            },
            logs / f"app-{n}.log",
        )
        for n, max_lag in enumerate(("60", "60", "2"))
    ]
    for app in apps:
        app.start()
    try:
        await asyncio.gather(*(app.wait_until_up("/health/ready") for app in apps))
        [[product_id]] = await _fetch(
            primary_url, "SELECT product FROM auction WHERE id = $1", auction_id
        )
        tolerant, other, strict = apps
        scene = Replicated(
            pair,
            primary_url,
            replica_url,
            tolerant,
            other,
            strict,
            seller,
            buyer,
            auction_id,
            product_id,
        )
        await scene.caught_up()
        yield scene
    finally:
        for app in apps:
            app.kill()


@pytest.fixture
async def scene(replicated: Replicated) -> AsyncIterator[Replicated]:
    """Each test starts with the replica running, replaying and caught up, and leaves it so."""
    yield replicated
    if not (replicated.pair.replica_dir / "postmaster.pid").exists():
        replicated.pair.replica("start")
    await replicated.replica("SELECT pg_wal_replay_resume()")
    await replicated.caught_up()


async def replica_state(app: AppProcess) -> str:
    async with httpx.AsyncClient(base_url=app.url) as http:
        response = await http.get("/health/ready")
    assert response.status_code == 200, response.text  # a replica never fails readiness
    [state] = response.json()["replicas"].values()
    return str(state)


async def product_name(app: AppProcess, product_id: int, user: UserHandle | None = None) -> str:
    async with httpx.AsyncClient(base_url=app.url) as http:
        response = await http.get(f"/api/products/{product_id}/", headers=user.auth if user else {})
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


async def rename_on_primary(scene: Replicated, name: str) -> None:
    await scene.primary("UPDATE product SET name = $1 WHERE id = $2", name, scene.product_id)


async def test_listed_reads_are_served_by_the_replica(scene: Replicated) -> None:
    app = scene.tolerant
    async with httpx.AsyncClient(base_url=app.url) as http:
        categories = (await http.get("/api/categories/")).json()["count"]
    await scene.replica("SELECT pg_wal_replay_pause()")
    await rename_on_primary(scene, "Sindhi ajrak, block-printed")
    await scene.primary("INSERT INTO category (name) VALUES ($1)", f"Textiles {uuid.uuid4()}")
    async with httpx.AsyncClient(base_url=app.url) as http:
        # The catalogue, a search, an auction and the auction list: all the replica's (stale).
        assert await product_name(app, scene.product_id) == "Ajrak shawl"
        found = (await http.get("/api/products/", params={"search": "block-printed"})).json()
        assert found["count"] == 0
        found = (await http.get("/api/auctions/", params={"search": "Ajrak shawl"})).json()
        assert [a["product"]["name"] for a in found["results"]] == ["Ajrak shawl"]
        auction = (await http.get(f"/api/auctions/{scene.auction_id}/")).json()
        assert auction["product"]["name"] == "Ajrak shawl"
        assert (await http.get("/api/categories/")).json()["count"] == categories
        # The bid path reads the primary: a bid is accepted and answered while replay is paused.
        placed = await http.post(
            f"/api/auctions/{scene.auction_id}/place_bid/",
            json={"amount": "2600.00"},
            headers=scene.buyer.auth,
        )
        assert placed.status_code == 201, placed.text
        # The bid history: the replica's has no bid yet, the bidder's own read has it.
        assert (await http.get(f"/api/auctions/{scene.auction_id}/bids/")).json() == []
        own = await http.get(f"/api/auctions/{scene.auction_id}/bids/", headers=scene.buyer.auth)
        assert [b["amount"] for b in own.json()] == ["2600.00"]
        # A seller's own auctions are their own data: the primary's, always current.
        mine = await http.get("/api/auctions/?my_auctions=true", headers=scene.seller.auth)
        assert [a["product"]["name"] for a in mine.json()["results"]] == [
            "Sindhi ajrak, block-printed"
        ]
    await scene.replica("SELECT pg_wal_replay_resume()")
    # Once it has replayed, the replica serves the change.
    await until(lambda: product_name(app, scene.product_id), lambda n: n != "Ajrak shawl")
    assert await product_name(app, scene.product_id) == "Sindhi ajrak, block-printed"
    async with httpx.AsyncClient(base_url=app.url) as http:
        assert (await http.get("/api/categories/")).json()["count"] == categories + 1


async def test_a_writer_reads_its_own_write(scene: Replicated) -> None:
    app = scene.tolerant
    other = await product_name(app, scene.product_id)
    await scene.replica("SELECT pg_wal_replay_pause()")
    async with httpx.AsyncClient(base_url=app.url) as http:
        # A fresh product: nobody has bid on it, so its seller may edit it.
        created = await http.post(
            "/api/products/",
            json={"name": "Multani blue pottery vase", "description": "Hand-painted."},
            headers=scene.seller.auth,
        )
        assert created.status_code == 201, created.text  # its body is read after the commit
        product_id = created.json()["id"]
        assert created.json()["name"] == "Multani blue pottery vase"
        # The writer's next requests read on the primary, and see the write...
        assert await product_name(app, product_id, scene.seller) == "Multani blue pottery vase"
        edited = await http.patch(
            f"/api/products/{product_id}/",
            json={"name": "Multani vase, cobalt"},
            headers=scene.seller.auth,
        )
        assert edited.json()["name"] == "Multani vase, cobalt"
        assert await product_name(app, product_id, scene.seller) == "Multani vase, cobalt"
        # ...while everyone else reads the replica, which has not replayed it yet.
        assert (await http.get(f"/api/products/{product_id}/")).status_code == 404
        listed = (await http.get("/api/products/", params={"search": "Multani"})).json()
        assert listed["count"] == 0
    assert await product_name(app, scene.product_id) == other


async def test_a_lagging_replica_is_skipped_and_returns_when_caught_up(scene: Replicated) -> None:
    app = scene.strict
    assert (await replica_state(app)).startswith("ok")
    await scene.replica("SELECT pg_wal_replay_pause()")
    await rename_on_primary(scene, "Ajrak, lagging")
    # Past the 2 s bound the replica is skipped, and reads come from the primary.
    await until(lambda: replica_state(app), lambda state: state == "lagging")
    assert await product_name(app, scene.product_id) == "Ajrak, lagging"
    await scene.replica("SELECT pg_wal_replay_resume()")
    await until(lambda: replica_state(app), lambda state: state.startswith("ok"))
    # Back in service: a change it has not replayed is missing again from what it serves (a
    # read must land within the bound after the pause; tried again if the machine stalled).
    for attempt in range(5):
        await until(lambda: replica_state(app), lambda state: state.startswith("ok"))
        await scene.replica("SELECT pg_wal_replay_pause()")
        await rename_on_primary(scene, f"Ajrak, attempt {attempt}")
        stale = await product_name(app, scene.product_id)
        await scene.replica("SELECT pg_wal_replay_resume()")
        if stale != f"Ajrak, attempt {attempt}":
            break
    else:
        raise AssertionError("the caught-up replica never served a read")


async def test_a_stopped_replica_is_skipped_without_errors(scene: Replicated) -> None:
    apps = (scene.tolerant, scene.strict)
    async with (
        httpx.AsyncClient(base_url=apps[0].url) as tolerant,
        httpx.AsyncClient(base_url=apps[1].url) as strict,
    ):
        paths = [
            "/api/products/",
            f"/api/products/{scene.product_id}/",
            "/api/auctions/?search=ajrak",
            f"/api/auctions/{scene.auction_id}/",
            f"/api/auctions/{scene.auction_id}/bids/",
            "/api/categories/",
        ]
        for http in (tolerant, strict):  # the pools hold connections to the replica
            assert all([(await http.get(p)).status_code == 200 for p in paths])
        # Stopped with connections open: the next reads on them fail there, and are retried on
        # the primary; none reaches the client as an error.
        scene.pair.replica("stop")
        await rename_on_primary(scene, "Ajrak, replica down")
        for http in (tolerant, strict):
            statuses = [(await http.get(p)).status_code for p in paths for _ in range(3)]
            assert statuses == [200] * len(statuses)
        for app in apps:
            await until(lambda app=app: replica_state(app), lambda s: s == "unreachable")
            assert await product_name(app, scene.product_id) == "Ajrak, replica down"
        scene.pair.replica("start")
        for app in apps:
            await until(lambda app=app: replica_state(app), lambda s: s.startswith("ok"))
        # Serving again: paused, it shows what it has replayed, not the primary's newest.
        await scene.caught_up()
        await scene.replica("SELECT pg_wal_replay_pause()")
        await rename_on_primary(scene, "Ajrak, after the restart")
        assert await product_name(apps[0], scene.product_id) == "Ajrak, replica down"


async def test_a_replica_dying_mid_query_is_retried_on_the_primary(scene: Replicated) -> None:
    app = scene.tolerant
    # A lock taken on the primary is replayed on the replica, where reads of the table wait.
    locker = await asyncpg.connect(scene.primary_url)
    lock = locker.transaction()
    await lock.start()
    try:
        await locker.execute("LOCK TABLE product IN ACCESS EXCLUSIVE MODE")
        # The lock is logged but not flushed (its transaction is open): another's commit is.
        await scene.primary("SELECT txid_current()")
        await scene.caught_up()
        async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
            read = asyncio.create_task(http.get(f"/api/products/{scene.product_id}/"))
            await until(
                lambda: scene.replica(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name = 'madeinpk-replica'"
                ),
                lambda waiting: waiting > 0,
            )
            # The read is on the replica, waiting; the replica dies under it.
            await asyncio.to_thread(scene.pair.replica, "stop")
            await lock.rollback()  # the retry on the primary may now go through
            response = await read
        assert response.status_code == 200, response.text
        assert response.json()["id"] == scene.product_id
    finally:
        if not locker.is_closed():
            await locker.close()


async def test_a_writer_reads_its_own_write_on_another_process(
    scene: Replicated, test_env: dict[str, str]
) -> None:
    if "REDIS_URL" not in test_env:
        pytest.skip("processes share the writer's pin through Redis")
    await scene.replica("SELECT pg_wal_replay_pause()")
    async with httpx.AsyncClient(base_url=scene.tolerant.url) as http:
        created = await http.post(
            "/api/products/",
            json={"name": "Peshawari chappal", "description": "Stitched by hand."},
            headers=scene.seller.auth,
        )
        assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    # The balancer sends the writer's next request to another process: it knows the pin.
    assert await product_name(scene.other, product_id, scene.seller) == "Peshawari chappal"
    async with httpx.AsyncClient(base_url=scene.other.url) as http:
        assert (await http.get(f"/api/products/{product_id}/")).status_code == 404  # replica's


async def test_a_server_not_in_recovery_is_skipped_and_replica_connections_are_read_only(
    replicated: Replicated, test_env: dict[str, str]
) -> None:
    # The primary, named as a replica (as a promoted one would be): never read, never written.
    promoted = replicated.primary_url.replace("127.0.0.1", "localhost")
    settings = Settings.from_env(
        {**test_env, "DATABASE_URL": replicated.primary_url, "DATABASE_REPLICA_URLS": promoted}
    )
    engine = CleanupPostgresEngine(config={"dsn": replicated.primary_url})
    router = ReplicaRouter(engine, settings)
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        await router.start()
        [(where, state)] = router.report().items()
        assert (where, state) == (
            f"localhost:{replicated.pair.primary_port}/madeinpk",
            "not_a_replica",
        )
        assert await router.choose() is None
        [replica] = router.replicas
        for _ in range(2):  # and still after the pool has given the connection back (RESET ALL)
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await replica.engine.run_ddl("INSERT INTO category (name) VALUES ('Never')")
    finally:
        await router.close()
        await engine.close_connection_pool()
