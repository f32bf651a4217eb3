"""One deciding process per auction (``auctions.bidding.owners``): the lease in a real Redis, bids
forwarded between real app processes, and the owner killed under load."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from madeinpk.accounts.tables import Role
from madeinpk.auctions.bidding import owners
from madeinpk.auctions.bidding.desk import BidRequest, _refuse_late
from madeinpk.auctions.bidding.owners import OwnerLeases
from madeinpk.auctions.bidding.refusals import Reason, Refused
from madeinpk.auctions.bidding.rules import Bidder
from madeinpk.auctions.tables import Auction, AuctionEvent, Bid
from tests.integration.conftest import LiveServer, free_port
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.processes import AppProcess
from tests.integration.sockets import Watch, watch
from tests.integration.test_observability import value

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(REDIS_URL is None, reason="production topology (Redis) only")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    assert REDIS_URL is not None
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def leases(redis: Redis, name: str, prefix: str, lease: float = 0.4) -> OwnerLeases:
    return OwnerLeases(redis, prefix, name, lease)


@needs_redis
async def test_the_first_process_to_ask_owns_the_auction_until_it_lets_go(redis: Redis) -> None:
    prefix = f"lease-test-{time.monotonic_ns()}"
    first, second = leases(redis, "first", prefix, 1.0), leases(redis, "second", prefix, 1.0)
    assert await first.owner(7) == "first"
    assert await second.owner(7) == "first"
    assert await second.owner(8) == "second"  # another auction: whoever asks first
    # Renewed while it has bids: still first's after several lease lives.
    for _ in range(6):
        await asyncio.sleep(0.2)
        assert await first.owner(7) == "first"
    await asyncio.sleep(0.55)  # past what second trusts of its last answer; first not yet idle
    assert await second.owner(7) == "first"
    await first.release_all()
    await asyncio.sleep(0.55)
    assert await second.owner(7) == "second"
    await second.release_all()
    assert await redis.exists(first.key(7), second.key(8)) == 0


@needs_redis
async def test_bids_forwarded_to_the_owner_keep_its_lease(redis: Redis) -> None:
    """The owner's own sockets may go quiet while others still forward it bids."""
    prefix = f"lease-test-{time.monotonic_ns()}"
    owner, other = leases(redis, "owner", prefix), leases(redis, "other", prefix)
    assert await owner.owner(5) == "owner"
    for _ in range(8):  # 1.6 s: four lease lives, with only forwarded bids
        await asyncio.sleep(0.2)
        owner.saw_bid(5)
    assert await other.owner(5) == "owner"
    await asyncio.sleep(0.9)  # no bid at all for two lease lives: let go
    await asyncio.sleep(0.5)  # past what other trusts of its last answer
    assert await other.owner(5) == "other"
    await owner.release_all()
    await other.release_all()


@needs_redis
async def test_a_process_forgets_auctions_that_went_quiet(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(owners, "FORGET_PAST", 10)
    prefix = f"lease-test-{time.monotonic_ns()}"
    first, second = leases(redis, "first", prefix, 0.2), leases(redis, "second", prefix, 0.2)
    for auction_id in range(10):
        assert await first.owner(auction_id) == "first"
        assert await second.owner(auction_id) == "first"
    await asyncio.sleep(0.6)  # quiet for longer than a lease, and past second's trust
    assert await second.owner(100) == "second"
    assert set(second._busy) == {100} and set(second._others) == set()
    await first.release_all()
    await second.release_all()


@needs_redis
async def test_a_lease_nobody_renews_runs_out_and_goes_to_the_next_asker(redis: Redis) -> None:
    prefix = f"lease-test-{time.monotonic_ns()}"
    dead, alive = leases(redis, "dead", prefix), leases(redis, "alive", prefix)
    assert await dead.owner(3) == "dead"
    assert dead._renewer is not None
    dead._renewer.cancel()  # as a process that was killed: nobody renews
    assert await alive.owner(3) == "dead"
    await asyncio.sleep(0.6)
    assert await alive.owner(3) == "alive"
    await alive.release_all()


async def test_with_redis_unreachable_every_process_decides_its_own_bids() -> None:
    closed = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    lonely = leases(closed, "lonely", "lease-test")
    started = time.monotonic()
    assert await lonely.owner(1) is None
    assert time.monotonic() - started < 2
    await closed.aclose()


def test_a_forwarded_bid_past_its_time_is_refused_undecided() -> None:
    bidder = Bidder(1, "buyer", "buyer@example.com")
    late = BidRequest(1, bidder, Decimal(3000), not_after=time.time() - 0.1)
    on_time = BidRequest(1, bidder, Decimal(3100), not_after=time.time() + 5)
    local = BidRequest(1, bidder, Decimal(3200))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        batch = [(r, loop.create_future()) for r in (late, on_time, local)]
        kept = _refuse_late(batch)
        assert [r for r, _ in kept] == [on_time, local]
        answered = batch[0][1].result()
        assert isinstance(answered, Refused) and answered.reason is Reason.internal
        assert not batch[1][1].done() and not batch[2][1].done()

    asyncio.run(run())


def metric(text: str, name: str, **labels: str) -> float:
    """A counter's value in a Prometheus text page (0 when absent)."""
    return value(text, name, **labels) or 0.0


async def metrics_of(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.fixture
async def two_apps(test_env: dict[str, str], tmp_path: Path) -> AsyncIterator[list[AppProcess]]:
    # No rate limit: the bidders bid as fast as they are answered.
    env = {**test_env, "BID_RATE_LIMIT": "0"}
    apps = [AppProcess(env, tmp_path / f"app{i}.log") for i in range(2)]
    for app in apps:
        app.start()
    try:
        await asyncio.gather(*(app.wait_until_up() for app in apps))
        yield apps
    finally:
        for app in apps:
            app.kill()


async def keep_bidding(
    ws: Watch,
    amounts: itertools.count[int],
    answers: list[tuple[str, str, Decimal, float]],
    stop: asyncio.Event,
) -> None:
    """Bid the next amount of the shared count as soon as the last bid is answered; record
    (answer type, error code, amount, when) until told to stop or the socket closes. (Not by
    cancelling: Python 3.11's ``wait_for`` can swallow a cancellation.)"""
    with contextlib.suppress(Exception):
        while not stop.is_set():
            amount = Decimal(next(amounts))
            await ws.send({"type": "place_bid", "amount": float(amount)})
            while True:
                message = await ws.receive(seconds=30)
                if message["type"] in ("bid_accepted", "error"):
                    break
            code = message.get("code", "") if message["type"] == "error" else ""
            answers.append((message["type"], code, amount, time.monotonic()))


async def check_the_auction_is_consistent(auction_id: int, told_accepted: set[Decimal]) -> None:
    """Every bid a bidder was told was accepted is stored, once; bids rise with time; one
    winner at the price; the events are 1..n without a gap."""
    bids = (
        await Bid.select().where(Bid.auction == auction_id).order_by(Bid.bid_time).order_by(Bid.id)
    )
    amounts = [b["amount"] for b in bids]
    assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts)
    assert told_accepted <= set(amounts), told_accepted - set(amounts)
    winners = [b for b in bids if b["is_winning"]]
    assert len(winners) == 1 and winners[0]["amount"] == amounts[-1]
    row = await Auction.select(Auction.current_price).where(Auction.id == auction_id).first()
    assert row is not None and row["current_price"] == amounts[-1]
    seqs = await AuctionEvent.select(AuctionEvent.seq).where(AuctionEvent.auction == auction_id)
    assert sorted(s["seq"] for s in seqs) == list(range(1, len(seqs) + 1))
    assert len(seqs) >= len(amounts)


@pytest.mark.postgres_only
@needs_redis
async def test_one_process_decides_an_auction_the_other_forwards_to_it(
    two_apps: list[AppProcess], live_server: LiveServer
) -> None:
    owner, other = two_apps
    seller = await make_user(live_server.settings, role=Role.seller)
    bidders = [await make_user(live_server.settings) for _ in range(4)]
    auction_id = await make_auction(seller, starting_price="1000.00")
    amounts = itertools.count(2000)
    answers: list[tuple[str, str, Decimal, float]] = []
    async with watch(owner.url, auction_id, bidders[0].token) as first:
        assert (await first.bid(1500))["type"] == "new_bid"  # the owner takes the lease
        before = [await metrics_of(app.url) for app in two_apps]
        async with contextlib.AsyncExitStack() as stack:
            sockets = [first] + [
                await stack.enter_async_context(watch(app.url, auction_id, b.token))
                for app, b in zip((owner, other, other), bidders[1:], strict=True)
            ]
            stop = asyncio.Event()
            racing = [
                asyncio.create_task(keep_bidding(ws, amounts, answers, stop)) for ws in sockets
            ]
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*racing)
    kinds = Counter(kind if kind != "error" else code for kind, code, _, _ in answers)
    assert kinds["bid_accepted"] > 20 and set(kinds) <= {"bid_accepted", "too_low"}, kinds
    after = [await metrics_of(app.url) for app in two_apps]
    forwarded = [
        metric(a, "madeinpk_bids_forwarded_total", result="answered")
        - metric(b, "madeinpk_bids_forwarded_total", result="answered")
        for a, b in zip(after, before, strict=True)
    ]
    # The other process's two bidders' bids all went to the owner; the owner forwarded none.
    assert forwarded[0] == 0 and forwarded[1] >= 10, forwarded
    batches = [
        sum(metric(a, "madeinpk_bid_batches_total", path=p) for p in ("known", "moved", "locked"))
        - sum(metric(b, "madeinpk_bid_batches_total", path=p) for p in ("known", "moved", "locked"))
        for a, b in zip(after, before, strict=True)
    ]
    assert batches[0] > 0 and batches[1] == 0, batches
    accepted = {amount for kind, _, amount, _ in answers if kind == "bid_accepted"}
    await check_the_auction_is_consistent(auction_id, accepted)


@pytest.mark.postgres_only
@needs_redis
async def test_the_owner_killed_under_load_hands_the_auction_to_the_survivor(
    two_apps: list[AppProcess], live_server: LiveServer
) -> None:
    owner, survivor = two_apps
    seller = await make_user(live_server.settings, role=Role.seller)
    bidders: list[UserHandle] = [await make_user(live_server.settings) for _ in range(4)]
    auction_id = await make_auction(seller, starting_price="1000.00")
    amounts = itertools.count(2000)
    on_owner: list[tuple[str, str, Decimal, float]] = []
    on_survivor: list[tuple[str, str, Decimal, float]] = []
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(watch(owner.url, auction_id, bidders[0].token))
        assert (await first.bid(1500))["type"] == "new_bid"  # the owner takes the lease
        second = await stack.enter_async_context(watch(owner.url, auction_id, bidders[1].token))
        rivals = [
            await stack.enter_async_context(watch(survivor.url, auction_id, b.token))
            for b in bidders[2:]
        ]
        stop = asyncio.Event()
        racing = [
            asyncio.create_task(keep_bidding(ws, amounts, on_owner, stop)) for ws in (first, second)
        ] + [asyncio.create_task(keep_bidding(ws, amounts, on_survivor, stop)) for ws in rivals]
        await asyncio.sleep(1.5)
        forwarded = metric(
            await metrics_of(survivor.url), "madeinpk_bids_forwarded_total", result="answered"
        )
        assert forwarded > 0  # the survivor's bids were going to the owner
        owner.kill()  # SIGKILL, mid-stampede
        killed_at = time.monotonic()
        # The survivor's bidders keep bidding until it decides the auction itself.
        for _ in range(300):
            if any(k == "bid_accepted" and t > killed_at + 0.5 for k, _, _, t in on_survivor):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*racing)
    after_kill = [(k, c) for k, c, _, t in on_survivor if t > killed_at]
    assert ("bid_accepted", "") in after_kill, on_survivor[-10:]
    # Every answer is the truth or says it could not be processed; nothing else.
    codes = Counter(c or k for k, c, _, _ in on_survivor)
    assert set(codes) <= {"bid_accepted", "too_low", "internal"}, codes
    told = {a for k, _, a, _ in on_owner + on_survivor if k == "bid_accepted"}
    await check_the_auction_is_consistent(auction_id, told)
