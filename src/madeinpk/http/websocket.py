"""What every WebSocket of the app shares: the close codes, the frames any socket may answer
with (``error``, ``pong``) and their time type, as the AsyncAPI document describes them."""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec
from litestar.exceptions import WebSocketException

from madeinpk.http.decoding import DECODING_FAILURES, Undecodable, decode_json
from madeinpk.http.errors import split_msgspec_error

T = TypeVar("T")

INVALID_TOKEN_CODE = 4401
TOO_MANY_SOCKETS_CODE = 4429
MESSAGE_TOO_BIG = 1009

NOT_TEXT = "Invalid message: send JSON text frames"
NOT_JSON = "Invalid message: not valid JSON"
UNKNOWN_TYPE = "Unknown message type"

# The ASGI scope extension under which the app server (``lean_websockets``) offers to write a
# ready-made frame straight to a socket's transport.
FRAME_WRITER = "madeinpk.write_frame"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 § 5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


# Wire type of every timestamp in a socket frame: what the AsyncAPI document says of it.
Time = Annotated[
    datetime,
    msgspec.Meta(
        description="UTC, ISO-8601, ending in Z",
        extra_json_schema={"format": "date-time"},
    ),
]


class Error(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    message: str
    code: str
    server_time: Time
    bid_id: str | msgspec.UnsetType = msgspec.UNSET  # when the failed frame carried one


class Pong(msgspec.Struct, tag="pong", tag_field="type"):
    server_time: Time


class InvalidMessage(ValueError):
    """A frame that is not a message of the socket's protocol: answered with an ``error`` of
    code ``invalid_message`` (in ``message``'s words), and the socket stays open. ``field``:
    the top-level member that did not fit, when the frame was JSON of another shape."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def read_message(data: str, decoder: msgspec.json.Decoder[T], max_bytes: int) -> T:
    """The one reader of both sockets' frames: a message of ``decoder``'s type, or
    ``InvalidMessage`` for anything else (an empty or binary frame, bytes that are not JSON,
    JSON nested past the recursion limit or of another shape), or close 1009 past
    ``max_bytes``. Nothing a client sends escapes as another exception (a 4500 close)."""
    if len(data) > max_bytes or len(data.encode()) > max_bytes:
        raise WebSocketException(detail="Message too big", code=MESSAGE_TOO_BIG)
    if not data:  # Litestar hands a binary frame to a text listener as ""
        raise InvalidMessage(NOT_TEXT)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        shape = str(exc)  # JSON of another shape, or not JSON further on: read it again
    except DECODING_FAILURES:
        raise InvalidMessage(NOT_JSON) from None
    try:
        decode_json(data)
    except Undecodable:
        raise InvalidMessage(NOT_JSON) from None
    raise InvalidMessage(UNKNOWN_TYPE, split_msgspec_error(shape)[1])
