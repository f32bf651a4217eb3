"""``/ws/notifications/?token=…``: the signed-in user's new notifications, the moment they are
committed, wherever the user is (an outbid alert on another auction's page, another tab)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import WebSocket, websocket_listener
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketException

from madeinpk.http.auth import AccountsByKey
from madeinpk.http.socket_cap import SocketCap, place_under_cap
from madeinpk.http.websocket import (
    INVALID_TOKEN_CODE,
    MESSAGE_TOO_BIG,
    Error,
    Pong,
)
from madeinpk.notifications.live import NotificationFeeds
from madeinpk.timestamps import utc_now

MAX_FRAME_BYTES = 1024
_encoder = msgspec.json.Encoder()


@asynccontextmanager
async def notification_connection(
    socket: WebSocket[Any, Any, Any],
    socket_cap: NamedDependency[SocketCap],
    token_cache: NamedDependency[AccountsByKey],
    notification_feeds: NamedDependency[NotificationFeeds],
) -> AsyncIterator[None]:
    """Its dependencies are the app's (Litestar resolves them once per connection)."""
    async with place_under_cap(socket, socket_cap):
        token = socket.query_params.get("token")
        account = await token_cache.account(token) if token else None
        await socket.accept()
        if account is None:
            raise WebSocketException(detail="Invalid token", code=INVALID_TOKEN_CODE)
        reader = await notification_feeds.join(account.id, socket)
        try:
            yield
        finally:
            await notification_feeds.leave(account.id, reader)


@websocket_listener(
    "/ws/notifications/", connection_lifespan=notification_connection, receive_mode="text"
)
async def notification_socket(data: str, socket: WebSocket[Any, Any, Any]) -> None:
    """Only ``{"type": "ping"}`` is understood (answered ``pong``); the server does the talking."""
    if len(data.encode()) > MAX_FRAME_BYTES:
        raise WebSocketException(detail="Message too big", code=MESSAGE_TOO_BIG)
    try:
        message = msgspec.json.decode(data)
    except msgspec.DecodeError:
        message = None
    if isinstance(message, dict) and message.get("type") == "ping":
        reply: msgspec.Struct = Pong(server_time=utc_now())
    else:
        reply = Error(message="Unknown message type", code="invalid_message", server_time=utc_now())
    await socket.send_data(_encoder.encode(reply), mode="text")
