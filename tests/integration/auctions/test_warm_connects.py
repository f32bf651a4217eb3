"""Warm connects read no database: the room's state and the briefly remembered login key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.tables import AuthToken, Role
from madeinpk.accounts.tokens import hash_key
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, socket_url, watch

pytestmark = pytest.mark.usefixtures("task_worker")

TAIL_CHECK = 'SELECT ALL "auction"."id" AS "id", "auction"."seq" AS "seq" FROM "auction" WHERE'


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """Every statement the app (which runs in this process) sends to the database."""
    engine = type(BaseUser._meta.db)
    original = engine.run_querystring
    seen: list[str] = []

    async def counting(self: Any, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(querystring))
        return await original(self, querystring, *args, **kwargs)

    engine.run_querystring = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        engine.run_querystring = original  # type: ignore[method-assign]


async def test_warm_connects_read_nothing_and_see_every_bid(
    live_server: LiveServer, queries: list[str]
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    other = await make_user(live_server.settings)
    auction_id = await make_auction(seller, images=2)
    async with (
        watch(live_server.url, auction_id, buyer.token) as first,
        watch(live_server.url, auction_id, other.token),  # its login key is now known here
    ):
        await first.bid(2600)
        queries.clear()
        for token in (other.token, None, other.token):
            async with watch(live_server.url, auction_id, token, snapshot=False) as ws:
                status = await ws.receive()
            data = status["data"]
            assert (data["seq"], data["current_price"], data["total_bids"]) == (1, "2600.00", 1)
            assert data["latest_bids"][0]["bidder"] == buyer.username
            assert data["is_active"] is True
            assert data["seller"]["email"] == (seller.email if token else None)
            assert data["my_max_bid"] is None
        # Nothing but, perhaps, the once-a-second check of the watched auctions' seq.
        assert [q for q in queries if not q.startswith(TAIL_CHECK)] == []
        queries.clear()
        # The leader's own maximum is secret (never in an event): its connect reads just that.
        async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
            data = (await ws.receive())["data"]
        assert data["my_max_bid"] == "2600.00"
        reads = [q for q in queries if not q.startswith(TAIL_CHECK)]
        assert len(reads) == 1 and '"leader_max"' in reads[0], reads


async def test_first_connects_at_once_share_one_read(
    live_server: LiveServer, queries: list[str]
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller)
    queries.clear()
    async with asyncio.TaskGroup() as group:
        for _ in range(30):
            group.create_task(connect_once(live_server.url, auction_id))
    auction_reads = [q for q in queries if 'FROM "auction"' in q and not q.startswith(TAIL_CHECK)]
    assert 1 <= len(auction_reads) <= 2, auction_reads  # one load (two if all 30 had left)


async def connect_once(url: str, auction_id: int) -> None:
    async with watch(url, auction_id) as ws:
        await asyncio.sleep(0.2)  # overlap with the others
        assert await ws.silent(0.01)


async def test_a_logout_takes_effect_at_once_here_and_within_a_second_elsewhere(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller)
    user = await make_user(live_server.settings)
    async with watch(live_server.url, auction_id, user.token):
        pass
    assert (await client.post("/api/auth/logout/", headers=user.auth)).status_code == 200
    assert await refused(live_server.url, auction_id, user)

    other = await make_user(live_server.settings)
    async with watch(live_server.url, auction_id, other.token):
        pass
    # Logged out through another process: the key is gone from the database only.
    await AuthToken.delete().where(AuthToken.key_hash == hash_key(other.token))
    await asyncio.sleep(1.05)
    assert await refused(live_server.url, auction_id, other)


async def refused(url: str, auction_id: int, user: UserHandle) -> bool:
    async with websockets.connect(socket_url(url, auction_id, user.token)) as connection:
        return await Watch(connection).closed_with() == (4401, "Invalid token")
