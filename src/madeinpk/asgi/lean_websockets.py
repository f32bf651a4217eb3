"""uvicorn's WebSocket protocol, leaner for thousands of watchers.

- **Memory**: uvicorn keeps the handshake's response (its header objects) for the connection's
  whole life, though nothing reads it after the handshake; it is dropped once the socket is
  accepted (part of the cut measured by bench/ws_bench.py's memory phase).
- **Fan-out at the cost of a write**: a server's text frame is the same bytes for every socket
  (unmasked, and compression is off: ``madeinpk serve`` does not offer it), so the live hub
  encodes each event's frame once and hands it to ``write_frame``, published in the ASGI scope
  under ``FRAME_WRITER``. It writes the bytes straight to the transport when the socket is open
  and its buffer is below uvicorn's flow-control mark; otherwise it declines and the frame takes
  the ordinary ASGI ``send``, which waits for the buffer to drain.
- **Quiet**: the ``websockets`` library's own "connection open" / "connection closed" lines
  repeat uvicorn's ``"WebSocket /path" [accepted]`` line, which stays; on a connect storm they
  were ~7 % of the server's CPU. Its warnings and errors still reach the log; a client's text
  frame that is not UTF-8 is closed 1007 without an ERROR line.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from madeinpk.http.websocket import FRAME_WRITER

_PROTOCOL_LOG = logging.getLogger("madeinpk.websocket_protocol")
_PROTOCOL_LOG.setLevel(logging.WARNING)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.logger = _PROTOCOL_LOG

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app has not run yet: it sees the writer from the start
            scope["extensions"][FRAME_WRITER] = self.write_frame

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.__dict__.pop("request", None)
            self.__dict__.pop("response", None)

    def send_receive_event_to_app(self) -> None:
        """A text message that is not UTF-8 fails the connection with 1007 (RFC 6455 § 8.1),
        as uvicorn does, but quietly: it is the client's error, not the server's (uvicorn
        logs it at ERROR with a traceback)."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(1007, "Invalid UTF-8 in a text frame")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def write_frame(self, frame: bytes) -> bool:
        """Write a frame made by ``text_frame``; False (nothing written) when it cannot go now:
        not open, closing, compressed, or the transport's buffer is full."""
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
