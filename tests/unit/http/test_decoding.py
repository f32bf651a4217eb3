"""``http.decoding`` and ``http.websocket.read_message``: every way bytes can fail to decode is
one exception, which each transport answers as its client error."""

from __future__ import annotations

import msgspec
import pytest
from litestar.exceptions import WebSocketException

from madeinpk.auctions.live.messages import ClientMessage, PlaceBid
from madeinpk.http.decoding import (
    QUERY_NOT_TEXT,
    Undecodable,
    check_urlencoded,
    decode_json,
)
from madeinpk.http.websocket import (
    MESSAGE_TOO_BIG,
    NOT_JSON,
    NOT_TEXT,
    UNKNOWN_TYPE,
    InvalidMessage,
    read_message,
)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"{", "JSON parse error - Input data was truncated"),
        (b'{"a": "\xff"}', "JSON parse error - Input is not valid UTF-8."),
        (b"[" * 100_000 + b"]" * 100_000, "JSON parse error - JSON is nested too deeply."),
        (b"9" * 5000, "JSON parse error - Integer value out of range"),
    ],
)
def test_every_way_json_fails_is_undecodable(data: bytes, detail: str) -> None:
    with pytest.raises(Undecodable) as caught:
        decode_json(data)
    assert caught.value.detail == detail


@pytest.mark.parametrize("raw", [b"a=%ff", b"%fe=1", b"a=1&b=%c3", b"a=\xff", b"a=%ed%a0%80"])
def test_urlencoded_text_must_be_utf8(raw: bytes) -> None:
    with pytest.raises(Undecodable) as caught:
        check_urlencoded(raw, QUERY_NOT_TEXT)
    assert caught.value.detail == QUERY_NOT_TEXT


def test_urlencoded_utf8_passes() -> None:
    check_urlencoded("a=%EF%BF%BD&b=شال&c=caf%C3%A9&d=+&e".encode(), QUERY_NOT_TEXT)


DECODER = msgspec.json.Decoder(ClientMessage)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("", NOT_TEXT),
        ("nope", NOT_JSON),
        ("[" * 2000 + "]" * 2000, NOT_JSON),
        ('{"type": "ping", "x": ' + "[" * 2000 + "]" * 2000 + "}", NOT_JSON),
        ('{"type": "nope"}', UNKNOWN_TYPE),
        ('{"type": "place_bid", "amount": 1} trailing', NOT_JSON),
    ],
)
def test_a_frame_that_is_no_message_is_invalid(frame: str, message: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        read_message(frame, DECODER, 65_536)
    assert caught.value.message == message


def test_a_frame_past_the_limit_closes_1009() -> None:
    with pytest.raises(WebSocketException) as caught:
        read_message("é" * 600, DECODER, 1024)  # 600 characters, 1200 bytes
    assert caught.value.code == MESSAGE_TOO_BIG


def test_a_message_is_read() -> None:
    message = read_message('{"type": "place_bid", "amount": 3000}', DECODER, 4096)
    assert isinstance(message, PlaceBid) and bytes(message.amount) == b"3000"
