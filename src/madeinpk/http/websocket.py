"""What every WebSocket of the app shares: the close codes, the frames any socket may answer
with (``error``, ``pong``) and their time type, as the AsyncAPI document describes them."""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Annotated

import msgspec

INVALID_TOKEN_CODE = 4401
TOO_MANY_SOCKETS_CODE = 4429
MESSAGE_TOO_BIG = 1009

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
