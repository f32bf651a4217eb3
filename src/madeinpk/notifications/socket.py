"""``/ws/notifications/?token=…``: the signed-in user's new notifications, the moment they are
committed, wherever the user is (an outbid alert on another auction's page, another tab)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import WebSocket, websocket_listener
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketException

from madeinpk.http.auth import AccountsByKey
from madeinpk.http.socket_cap import SocketCap, place_under_cap
from madeinpk.http.websocket import (
    INVALID_TOKEN_CODE,
    UNKNOWN_TYPE,
    Error,
    InvalidMessage,
    Pong,
    read_message,
)
from madeinpk.notifications.live import NotificationFeeds
from madeinpk.timestamps import utc_now

MAX_FRAME_BYTES = 1024
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class NotificationSocketServices:
    """What the socket needs of the app, as ONE dependency (several independent ones are
    resolved in a task group, per connection)."""

    cap: SocketCap
    tokens: AccountsByKey
    feeds: NotificationFeeds


@asynccontextmanager
async def notification_connection(
    socket: WebSocket[Any, Any, Any],
    notification_socket_services: NamedDependency[NotificationSocketServices],
) -> AsyncIterator[None]:
    """Its dependency is the app's (Litestar resolves it once per connection)."""
    services = notification_socket_services
    async with place_under_cap(socket, services.cap):
        token = socket.query_params.get("token")
        account = await services.tokens.account(token) if token else None
        await socket.accept()
        if account is None:
            raise WebSocketException(detail="Invalid token", code=INVALID_TOKEN_CODE)
        reader = await services.feeds.join(account.id, socket)
        try:
            yield
        finally:
            await services.feeds.leave(account.id, reader)


class _Frame(msgspec.Struct):
    """A client's frame: any JSON object, of which only ``type`` is read."""

    type: Any = None


_decoder = msgspec.json.Decoder(_Frame)


@websocket_listener(
    "/ws/notifications/", connection_lifespan=notification_connection, receive_mode="text"
)
async def notification_socket(data: str, socket: WebSocket[Any, Any, Any]) -> None:
    """Only ``{"type": "ping"}`` is understood (answered ``pong``); the server does the talking."""
    try:
        frame = read_message(data, _decoder, MAX_FRAME_BYTES)
    except InvalidMessage as exc:
        problem: str | None = exc.message
    else:
        problem = None if frame.type == "ping" else UNKNOWN_TYPE
    reply: msgspec.Struct = (
        Pong(server_time=utc_now())
        if problem is None
        else Error(message=problem, code="invalid_message", server_time=utc_now())
    )
    await socket.send_data(_encoder.encode(reply), mode="text")
