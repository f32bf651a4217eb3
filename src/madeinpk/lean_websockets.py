"""uvicorn's WebSocket protocol, minus what an idle socket no longer needs.

uvicorn keeps the parsed upgrade request and the handshake response (their header objects) for
the connection's whole life, though nothing reads them after the handshake: about 4 KiB per
socket, a fifth of what an idle watcher costs. Dropping them once the socket is accepted is the
whole difference (``madeinpk serve`` uses this class; see bench/ws_bench.py, memory phase).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.__dict__.pop("request", None)
            self.__dict__.pop("response", None)
