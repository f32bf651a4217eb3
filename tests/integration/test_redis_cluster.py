"""Everything on a Redis Cluster (``REDIS_CLUSTER=true``): a real three-master cluster started
for this module, two real app processes, a ``taskiq worker`` and the ``taskiq scheduler`` on it.

Bids taken by one process reach watchers on both through sharded pub/sub; a reconnect replays
from the log; a stampede over both processes leaves no gap and nothing unsent; notifications
cross processes; an auction ends on time through the scheduler and the worker; and a master
killed and started again on its port (its slots unserved meanwhile) closes exactly the watchers
whose channels lived there with 1012, after which everything flows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

import httpx
import pytest
import redis
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.after_commit import reschedule_ending
from madeinpk.auctions.events import auction_channel
from madeinpk.auctions.live.recovery import SERVICE_RESTART
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.notifications.live import user_channel
from madeinpk.redis_io.schedule_source import build_schedule_source
from madeinpk.settings import Settings
from madeinpk.tasks import build_task_broker
from madeinpk.timestamps import utc_now
from tests.integration.auctions.test_concurrency import bid_over_rest, bid_over_socket
from tests.integration.conftest import LiveServer, TaskProcess, scheduler_process, worker_process
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.processes import AppProcess, RedisClusterNodes
from tests.integration.sockets import Watch, watch

# The cross-process test that needs nothing of a cluster's own, run here on this module's
# ``apps`` (two app processes on the cluster) as well as on one Redis in its own module.
from tests.integration.test_multiprocess import (  # noqa: F401
    test_a_watcher_reconnecting_to_the_other_process_replays_what_it_missed,
)

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def cluster_env(test_env: dict[str, str], redis_cluster: RedisClusterNodes) -> dict[str, str]:
    return {**test_env, "REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true"}


@pytest.fixture(scope="module")
def cluster_processes(
    cluster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[AppProcess], TaskProcess, TaskProcess]]:
    logs = tmp_path_factory.mktemp("cluster-logs")
    apps = [AppProcess(cluster_env, logs / f"app-{i}.log") for i in range(2)]
    for app in apps:
        app.start()
    worker = worker_process(cluster_env, logs / "worker.log")
    scheduler = scheduler_process(cluster_env, logs / "scheduler.log")
    try:
        worker.start()  # each returns once its heartbeat is in the cluster
        scheduler.start()
        yield apps, worker, scheduler
    finally:
        scheduler.stop()
        worker.stop()
        for app in apps:
            app.kill()


# What the counters log when they fail open (let a bid or a socket through uncounted): on a
# healthy cluster, never (a key family split over two slots would say so here).
FAILED_OPEN = ("not checked", "not uncounted", "not written", "event dropped")


@pytest.fixture
async def apps(
    cluster_processes: tuple[list[AppProcess], TaskProcess, TaskProcess],
    live_server: LiveServer,
    request: pytest.FixtureRequest,
) -> AsyncIterator[list[str]]:
    processes = cluster_processes[0]
    for app in processes:
        await app.wait_until_up("/health/ready")
    before = [len(app.output()) for app in processes]
    yield [app.url for app in processes]
    for app, start in zip(processes, before, strict=True):
        written = app.output()[start:]
        assert "Traceback" not in written, written[-3000:]
        if "restart" not in request.node.name:
            assert not [
                line for line in written.splitlines() if any(text in line for text in FAILED_OPEN)
            ], written[-3000:]


def shard_channels(nodes: RedisClusterNodes) -> dict[int, set[str]]:
    """The sharded channels each master has subscribers for (``PUBSUB SHARDCHANNELS``)."""
    found = {}
    for port in nodes.processes:
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            found[port] = {c.decode() for c in client.execute_command("PUBSUB", "SHARDCHANNELS")}
        finally:
            client.close()
    return found


async def test_bids_reach_watchers_on_both_processes_through_sharded_channels(
    apps: list[str], live_server: LiveServer, redis_cluster: RedisClusterNodes
) -> None:
    first, second = apps
    prefix = live_server.settings.channel_prefix
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer, rival = [await make_user(live_server.settings) for _ in range(2)]
    auctions = [await make_auction(seller) for _ in range(6)]
    while len({redis_cluster.port_of(auction_channel(prefix, a)) for a in auctions}) < 2:
        auctions.append(await make_auction(seller))  # six on one master: rare, but possible
    async with contextlib.AsyncExitStack() as stack:
        bidders = [await stack.enter_async_context(watch(first, a, buyer.token)) for a in auctions]
        on_first = [await stack.enter_async_context(watch(first, a)) for a in auctions]
        on_second = [await stack.enter_async_context(watch(second, a)) for a in auctions]
        # Each auction's channel is a sharded channel on the master owning its slot (the
        # auctions are spread over more than one), and no classic channel is subscribed.
        subscribed = shard_channels(redis_cluster)
        for auction_id in auctions:
            channel = auction_channel(prefix, auction_id)
            assert channel in subscribed[redis_cluster.port_of(channel)], subscribed
        for port in redis_cluster.processes:
            node = redis.Redis(host="127.0.0.1", port=port)
            try:
                assert node.pubsub_channels() == [], port
            finally:
                node.close()
        for bidder, watcher_first, watcher_second in zip(bidders, on_first, on_second, strict=True):
            reply = await bidder.bid(3000)
            assert reply["type"] == "new_bid"
            assert await watcher_first.receive() == reply
            assert await watcher_second.receive() == reply
        # REST bids taken by the *other* process reach the sockets on the first one.
        async with httpx.AsyncClient(base_url=second) as http:
            for auction_id in auctions:
                response = await http.post(
                    f"/api/auctions/{auction_id}/place_bid/",
                    json={"amount": 3100},
                    headers=rival.auth,
                )
                assert response.status_code == 201, response.text
        for sockets in zip(bidders, on_first, on_second, strict=True):
            for ws in sockets:
                event = await ws.receive()
                assert event["type"] == "new_bid"
                assert (event["data"]["bidder"], event["data"]["amount"]) == (
                    rival.username,
                    "3100.00",
                )


async def bid_over_rest_at(
    url: str, auction_id: int, bidder: UserHandle, amounts: list[Decimal]
) -> list[Decimal]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await bid_over_rest(http, auction_id, bidder, amounts)


async def test_a_stampede_over_both_processes_leaves_no_gap(
    apps: list[str], live_server: LiveServer
) -> None:
    """Bidders on both processes, over sockets and REST, all at once: watchers on both see
    every accepted bid once, numbered 1, 2, 3 … in rising order, as the database stored them."""
    bidders_count, bids_each = 12, 4
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller, starting_price="1000.00")
    bidders = [await make_user(live_server.settings) for _ in range(bidders_count)]
    rng = random.Random(19)
    pool = rng.sample(
        range(100_100, 100_100 + bidders_count * bids_each * 10), bidders_count * bids_each
    )
    plans = [
        sorted(Decimal(a) / 100 for a in pool[i * bids_each : (i + 1) * bids_each])
        for i in range(bidders_count)
    ]
    async with (
        watch(apps[0], auction_id) as spectator_first,
        watch(apps[1], auction_id) as spectator_second,
    ):
        results = await asyncio.gather(
            *(
                (bid_over_socket if i % 2 == 0 else bid_over_rest_at)(
                    apps[(i // 2) % 2], auction_id, bidder, plan
                )
                for i, (bidder, plan) in enumerate(zip(bidders, plans, strict=True))
            )
        )
        accepted = sorted(a for result in results for a in result)
        assert accepted, "some bids must win the race"
        for spectator in (spectator_first, spectator_second):
            seen: list[Decimal] = []
            numbers: list[int] = []
            while len(seen) < len(accepted):
                message = await spectator.receive(seconds=10)
                assert message["type"] == "new_bid"
                seen.append(Decimal(message["data"]["amount"]))
                numbers.append(message["data"]["seq"])
            assert seen == accepted, "every accepted bid broadcast once, in rising order"
            assert numbers == list(range(1, len(accepted) + 1)), "seq without gaps"
        assert await spectator_first.silent(0.3) and await spectator_second.silent(0.1)
    async with httpx.AsyncClient(base_url=apps[1]) as http:
        history = (await http.get(f"/api/auctions/{auction_id}/bids/")).json()
    assert sorted(Decimal(b["amount"]) for b in history) == accepted, "stored = broadcast"


async def test_an_outbid_alert_reaches_the_buyer_on_the_other_process(
    apps: list[str], live_server: LiveServer, redis_cluster: RedisClusterNodes
) -> None:
    first, second = apps
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer, rival = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller)
    alerts = second.replace("http", "ws", 1) + f"/ws/notifications/?token={buyer.token}"
    async with websockets.connect(alerts) as connection:
        feed = Watch(connection)
        assert (await feed.receive())["type"] == "unread_count"
        channel = user_channel(live_server.settings.channel_prefix, buyer.id)
        assert channel in shard_channels(redis_cluster)[redis_cluster.port_of(channel)]
        async with watch(first, auction_id, buyer.token) as ws:
            await ws.bid(2600)
        async with watch(first, auction_id, rival.token) as ws:
            await ws.bid(2700)
        pushed = await feed.receive()
    assert pushed["type"] == "notification" and pushed["unread_count"] == 1
    assert pushed["data"]["notification_type"] == "bid_outbid"
    assert pushed["data"]["auction"] == auction_id


async def test_failed_logins_are_counted_over_both_processes(
    apps: list[str], live_server: LiveServer
) -> None:
    """The login throttle's scripts touch an attempt's two keys, tagged with the client
    address: on the cluster they run in one slot, and both processes share the counts."""
    user = await make_user(live_server.settings)
    limit = live_server.settings.login_failures_per_account
    address = {"X-Forwarded-For": f"10.9.{random.randrange(256)}.{random.randrange(1, 255)}"}
    async with httpx.AsyncClient() as http:

        async def login(url: str, password: str) -> httpx.Response:
            return await http.post(
                f"{url}/api/auth/login/",
                json={"email": user.email, "password": password},
                headers=address,
            )

        for n in range(limit):
            assert (await login(apps[n % 2], "wrong-password-1")).status_code == 401
        for url in apps:
            throttled = await login(url, "wrong-password-1")
            assert throttled.status_code == 429, throttled.text
            assert 0 < int(throttled.headers["Retry-After"]) <= 900


async def test_an_auction_ends_on_time_through_the_scheduler_and_the_worker(
    apps: list[str],
    live_server: LiveServer,
    cluster_env: dict[str, str],
    redis_cluster: RedisClusterNodes,
) -> None:
    """The ending is filed in the cluster's schedule source, the scheduler kicks it into the
    cluster's task stream, the worker takes it (and acknowledges it), ends the auction, and its
    ``auction_ended`` reaches a watcher on an app process through the cluster.

    The suite's own scheduler (on the shared Redis, for other tests) sweeps overdue auctions
    of the same database every 2 s and may, rarely, end this one a moment before the cluster's
    worker does; its event then reaches the suite's own server instead, so one watcher is on
    each, and the cluster's part is checked on the cluster's stream."""
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    end_time = utc_now() + timedelta(seconds=4)
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=4))
    await Auction.update({Auction.end_time: end_time}).where(Auction.id == auction_id)
    settings = Settings.from_env(cluster_env)
    broker, source = build_task_broker(settings), build_schedule_source(settings)
    try:
        await reschedule_ending(broker, source, auction_id, end_time)
    finally:
        await source.shutdown()
        await broker.shutdown()
    async with httpx.AsyncClient(base_url=apps[0]) as http:
        placed = await http.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": 2600}, headers=buyer.auth
        )
    assert placed.status_code == 201, placed.text
    async with (
        watch(apps[1], auction_id) as on_cluster,
        watch(live_server.url, auction_id) as on_shared,
    ):
        waits = {asyncio.ensure_future(w.receive(seconds=15)) for w in (on_cluster, on_shared)}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
        ended = next(iter(done)).result()
    assert ended["type"] == "auction_ended", ended
    assert ended["data"]["winner"] == buyer.username
    row = await Auction.select(Auction.status).where(Auction.id == auction_id).first()
    assert row is not None and row["status"] == AuctionStatus.ended
    # The scheduler kicked the ending into the cluster's stream; the worker took it and
    # acknowledged it there.
    stream = cluster_env["TASK_QUEUE"]
    client = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    try:
        # Replies as this client gets them (redis-py types every protocol's shape, bytes | str).
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
        kicked = [
            entry_id
            for entry_id, fields in entries
            if (task := json.loads(fields[b"data"]))["task_name"] == "madeinpk.end_auction"
            and task["args"] == [auction_id]
        ]
        assert kicked, "the ending was not kicked into the cluster's stream"
        deadline = time.monotonic() + 15
        while not acknowledged(client, stream, kicked[0]):
            assert time.monotonic() < deadline, "the ending was not taken and acknowledged"
            await asyncio.sleep(0.1)
    finally:
        client.close()


def stream_id(raw: bytes) -> tuple[int, int]:
    milliseconds, _, sequence = raw.decode().partition("-")
    return int(milliseconds), int(sequence)


def acknowledged(client: redis.RedisCluster, stream: str, entry_id: bytes) -> bool:
    """Delivered to the stream's consumer group (named as the stream) and no longer pending."""
    group = client.xinfo_groups(stream)[0]
    delivered = stream_id(group["last-delivered-id"]) >= stream_id(entry_id)
    return delivered and not client.xpending_range(
        stream, stream, min=entry_id, max=entry_id, count=1
    )


async def wait_ready(url: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=url) as http:
        while (await http.get("/health/ready")).status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} not ready {limit} s after the node came back")
            await asyncio.sleep(0.1)


async def auction_on(
    seller: UserHandle, prefix: str, nodes: RedisClusterNodes, port: int, wanted: bool
) -> int:
    """A new auction whose channel is (``wanted``) or is not on the master at ``port``."""
    for _ in range(200):
        auction_id = await make_auction(seller)
        if (nodes.port_of(auction_channel(prefix, auction_id)) == port) == wanted:
            return auction_id
    raise AssertionError("no auction channel landed where wanted")


async def test_a_master_restart_closes_its_watchers_and_bids_flow_again(
    apps: list[str],
    live_server: LiveServer,
    redis_cluster: RedisClusterNodes,
    cluster_processes: tuple[list[AppProcess], TaskProcess, TaskProcess],
    cluster_env: dict[str, str],
    tmp_path: Path,
) -> None:
    second = apps[1]
    # A third process, to be stopped while the master is down: SIGTERM must stay quick.
    third = AppProcess(cluster_env, tmp_path / "third.log")
    third.start()
    prefix = live_server.settings.channel_prefix
    seller = await make_user(live_server.settings, role=Role.seller)
    bidders = [await make_user(live_server.settings) for _ in range(2)]
    stream = cluster_env["TASK_QUEUE"]
    victim = redis_cluster.port_of(stream)  # the task stream goes down (and empty) with it
    hit = await auction_on(seller, prefix, redis_cluster, victim, wanted=True)
    spared = await auction_on(seller, prefix, redis_cluster, victim, wanted=False)
    try:
        await third.wait_until_up("/health/ready")
    except BaseException:
        third.kill()
        raise
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient() as http:
        stack.callback(third.kill)
        hit_watchers = [
            await stack.enter_async_context(watch(u, hit)) for u in [*apps, *apps, third.url]
        ]
        spared_watchers = [await stack.enter_async_context(watch(u, spared)) for u in apps]
        closes = asyncio.gather(*(w.closed_with(seconds=15) for w in hit_watchers))
        redis_cluster.kill_node(victim)
        assert {code for code, _ in await closes} == {SERVICE_RESTART}
        # Watchers of an auction whose channel lives on a master that is still up keep their
        # stream: a bid placed while the other master is down reaches them.
        response = await http.post(
            f"{second}/api/auctions/{spared}/place_bid/",
            json={"amount": 3000},
            headers=bidders[0].auth,
        )
        assert response.status_code == 201, response.text
        for watcher in spared_watchers:
            assert (await watcher.receive(seconds=10))["data"]["amount"] == "3000.00"
        took = await third.terminate()  # raises if it hangs
        print(f"SIGTERM with a master down: exited in {took:.2f} s")
        assert "Traceback" not in third.output(), third.output()[-3000:]
        # A watcher joining while its channel's master is down gets its snapshot, and is told
        # (1012) once the channel is subscribed again: it may have missed events in between.
        late = await stack.enter_async_context(watch(apps[0], hit))
        late_close = asyncio.ensure_future(late.closed_with(seconds=30))

        redis_cluster.start_node(victim)  # same port, same cluster config: same node, no data
        redis_cluster.wait_ok()
        assert (await late_close)[0] == SERVICE_RESTART
        for url in apps:
            await wait_ready(url)

    # Clients reconnect (as the browser does on 1012) and see every bid, from either process.
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient() as http:
        watchers = [await stack.enter_async_context(watch(u, hit)) for u in apps]
        for i, amount in enumerate((3100, 3200, 3300)):
            response = await http.post(
                f"{apps[i % 2]}/api/auctions/{hit}/place_bid/",
                json={"amount": amount},
                headers=bidders[i % 2].auth,
            )
            assert response.status_code == 201, response.text
        for watcher in watchers:
            got = [(await watcher.receive(seconds=10))["data"]["amount"] for _ in range(3)]
            assert got == ["3100.00", "3200.00", "3300.00"]
    app_processes, worker, scheduler = cluster_processes
    for app in app_processes:
        assert f"Redis Cluster node 127.0.0.1:{victim} lost" in app.output()
    assert "Redis pub/sub reconnected after" in app_processes[0].output()
    for process in (worker, scheduler):
        assert process.process is not None and process.process.poll() is None
    # The node came back without the stream and its consumer group: the scheduler's sweeps
    # are kicked into it again and the worker, having declared the group again, reads them.
    await tasks_flowing(redis_cluster, stream)
    assert "Task queue reconnected" in worker.log.read_text()


async def tasks_flowing(nodes: RedisClusterNodes, stream: str, limit: float = 30) -> None:
    """Until the stream's group has read two tasks and acked all but the one in flight."""
    client = redis.RedisCluster(host="127.0.0.1", port=nodes.ports[0])
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                groups = client.xinfo_groups(stream)
            except redis.ResponseError:
                groups = []
            if groups and int(groups[0].get("entries-read") or 0) >= 2:
                if int(groups[0]["pending"]) <= 1:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"tasks not flowing on the cluster: {groups}")
            await asyncio.sleep(0.1)
    finally:
        client.close()
