"""A small WebSocket test client over the ``websockets`` library (real connections)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


def error(message: str, code: str) -> dict[str, Any]:
    """An ``error`` frame as a test compares it (``server_time`` is checked and set aside)."""
    return {"type": "error", "message": message, "code": code}


class Watch:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.acks: list[dict[str, Any]] = []  # the bid_accepted answers to this socket's bids

    async def receive(self, seconds: float = 5) -> dict[str, Any]:
        """The next message, with its ``server_time`` checked (a UTC ``Z`` time) and removed."""
        raw = await asyncio.wait_for(self.connection.recv(), seconds)
        assert isinstance(raw, str), "the server sends text frames"
        message: dict[str, Any] = json.loads(raw)
        server_time = message.pop("server_time", None)
        assert isinstance(server_time, str) and server_time.endswith("Z"), message
        return message

    async def send(self, payload: object) -> None:
        await self.connection.send(
            payload if isinstance(payload, str | bytes) else json.dumps(payload)
        )

    async def bid(self, amount: object, bid_id: str | None = None) -> dict[str, Any]:
        """Send a bid and return the reply meant for this socket: its ``new_bid`` (whose
        ``bid_accepted``, which the server sends right after it, is checked and kept in
        ``acks``) or an ``error``."""
        payload: dict[str, Any] = {"type": "place_bid", "amount": amount}
        if bid_id is not None:
            payload["bid_id"] = bid_id
        await self.send(payload)
        reply = await self.receive()
        if reply["type"] == "new_bid":
            ack = await self.receive()
            assert ack["type"] == "bid_accepted", ack
            assert ack["data"]["seq"] == reply["data"]["seq"], (reply, ack)
            assert ack["data"]["amount"] == reply["data"]["amount"], (reply, ack)
            self.acks.append(ack)
        return reply

    async def silent(self, seconds: float = 0.3) -> bool:
        try:
            message = await asyncio.wait_for(self.connection.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message: {message!r}")

    async def closed_with(self, seconds: float = 5) -> tuple[int | None, str | None]:
        """Drain until the server closes; return its close code and reason."""
        try:
            async with asyncio.timeout(seconds):
                async for _ in self.connection:
                    pass
        except websockets.ConnectionClosed:
            pass
        close = self.connection.protocol.close_rcvd
        return (close.code, close.reason) if close else (None, None)


def socket_url(server_url: str, auction_id: object, token: str | None = None) -> str:
    url = f"{server_url.replace('http', 'ws', 1)}/ws/auction/{auction_id}/"
    return f"{url}?token={token}" if token is not None else url


@asynccontextmanager
async def watch(
    server_url: str, auction_id: object, token: str | None = None, *, snapshot: bool = True
) -> AsyncIterator[Watch]:
    """Connect; by default also consume the ``auction_status`` the server sends first."""
    async with websockets.connect(socket_url(server_url, auction_id, token), max_size=2**20) as ws:
        client = Watch(ws)
        if snapshot:
            first = await client.receive()
            assert first["type"] == "auction_status", first
        yield client
