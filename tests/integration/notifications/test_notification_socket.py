"""``/ws/notifications/``: a user's new notifications pushed the moment they are committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from madeinpk.accounts.tables import Role
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.sockets import Watch, error, watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")


def alerts_url(server_url: str, token: str | None) -> str:
    url = f"{server_url.replace('http', 'ws', 1)}/ws/notifications/"
    return f"{url}?token={token}" if token is not None else url


@asynccontextmanager
async def alerts(server_url: str, user: UserHandle) -> AsyncIterator[Watch]:
    async with websockets.connect(alerts_url(server_url, user.token)) as connection:
        ws = Watch(connection)
        yield ws


async def rest_notifications(client: httpx.AsyncClient, user: UserHandle) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications/", headers=user.auth)
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@pytest.mark.parametrize("token", [None, "not-a-key"])
async def test_a_notification_socket_needs_a_valid_key(
    live_server: LiveServer, token: str | None
) -> None:
    async with websockets.connect(alerts_url(live_server.url, token)) as connection:
        assert await Watch(connection).closed_with() == (4401, "Invalid token")


async def test_an_outbid_notice_is_pushed_with_the_unread_count(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer, rival = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller)
    async with alerts(live_server.url, buyer) as feed:
        assert await feed.receive() == {"type": "unread_count", "data": {"unread_count": 0}}
        async with watch(live_server.url, auction_id, buyer.token) as ws:
            await ws.bid(2600)
        async with watch(live_server.url, auction_id, rival.token) as ws:
            await ws.bid(2700)
        pushed = await feed.receive()
        [stored] = await rest_notifications(client, buyer)
        assert pushed == {"type": "notification", "data": stored, "unread_count": 1}
        assert stored["notification_type"] == "bid_outbid" and stored["auction"] == auction_id
        await feed.send({"type": "ping"})
        assert await feed.receive() == {"type": "pong"}
        await feed.send({"type": "place_bid", "amount": 1})
        assert await feed.receive() == error("Unknown message type", "invalid_message")
        assert await feed.silent()
    async with alerts(live_server.url, buyer) as feed:  # the count survives a reconnect
        assert await feed.receive() == {"type": "unread_count", "data": {"unread_count": 1}}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("hello", "Invalid message: not valid JSON"),
        ("", "Invalid message: send JSON text frames"),
        (b'{"type": "ping"}', "Invalid message: send JSON text frames"),
        ('{"type": "buy_now"}', "Unknown message type"),
        # As deep as the frame limit allows, in a process whose stack is already deep.
        ("[" * 511 + "]" * 511, "Unknown message type"),
        ('{"type": ' + "9" * 1000 + "}", "Unknown message type"),
    ],
)
async def test_a_frame_it_cannot_read_is_an_error_and_the_socket_stays_open(
    live_server: LiveServer, buyer: UserHandle, frame: str | bytes, message: str
) -> None:
    """The notification socket reads frames with the auction socket's decoder: the same
    words for the same mistakes, and never a 4500 close."""
    async with alerts(live_server.url, buyer) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        await feed.send(frame)
        assert await feed.receive() == error(message, "invalid_message")
        await feed.send({"type": "ping"})
        assert await feed.receive() == {"type": "pong"}


async def test_a_text_frame_that_is_not_utf8_is_the_documented_close_1007(
    live_server: LiveServer, buyer: UserHandle
) -> None:
    async with alerts(live_server.url, buyer) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        await feed.connection.send(b'{"type": "\xff"}', text=True)
        code, _ = await feed.closed_with()
        assert code == 1007


async def test_the_end_of_an_auction_is_pushed_to_the_winner(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    winner = await make_user(live_server.settings)
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=4))
    async with alerts(live_server.url, winner) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        async with watch(live_server.url, auction_id, winner.token) as ws:
            await ws.bid(2600)
        pushed = await feed.receive(seconds=20)
    assert pushed["type"] == "notification"
    assert pushed["data"]["notification_type"] == "auction_won"
    assert pushed["data"] in await rest_notifications(client, winner)
