"""Close a WebSocket once.

When the server closes a socket itself (the live hub does: 1013 for a watcher too slow, 1012
for one whose stream broke), the listener's next receive ends in ``WebSocketDisconnect`` and
Litestar's exception middleware sends a second ``websocket.close``. uvicorn refuses that with a
``RuntimeError`` and logs an "Exception in ASGI application" traceback per socket: thousands of
them when Redis restarts under a full house. The client already has its close code; drop the
duplicate; and once the client or the protocol has closed it, the app's own close too.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send


class CloseOnceMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False

        async def send_once(message: Message) -> None:
            nonlocal closed
            if message["type"] == "websocket.close":
                if closed:
                    return
                closed = True
            await send(message)

        async def receive_noting_close() -> Message:
            # The protocol may close a socket itself (1007 for a text frame that is not UTF-8,
            # 1009 past the server's frame limit); the app then only hears the disconnect.
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.disconnect":
                closed = True
            return message

        await self.app(scope, receive_noting_close, send_once)
