"""Hostile frames on both sockets, over real connections: never a 1011 or 4500 close, and the
server keeps answering (a ``ping`` after each hostile frame gets its ``pong``).

The frames: arbitrary JSON (deep nesting, huge and odd numbers, wrong types), every client
message of docs/websocket.md with its fields mutated, unknown types, text that is not JSON, text
frames that are not UTF-8, binary frames, empty frames, fragmented messages and frames over the
frame limit. Only two closes are the protocol's answer to a frame, and only once such a frame was
sent: 1009 to one over the socket's limit (4096 bytes; 1024 on the notifications socket), 1007 to a
text frame that is not UTF-8 (RFC 6455 § 8.1). Any other close fails, with the frames that led to
it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.integration.fuzz.conftest import FUZZ_EXAMPLES, Cast
from tests.integration.servers import WebServer

pytestmark = pytest.mark.fuzz

MAX_FRAME_BYTES = 4096
MESSAGE_TOO_BIG = 1009
INVALID_PAYLOAD = 1007
SERVER_TYPES = {
    "auction_status", "new_bid", "bid_accepted", "auction_extended", "auction_ended", "error",
    "pong", "reserve_met", "unread_count", "notification",
}  # fmt: skip


@dataclass(frozen=True)
class Frame:
    """One hostile message: text (``str``, or ``bytes`` sent as a text frame unchecked), binary,
    or a text message split into fragments."""

    payload: str | bytes
    binary: bool = False
    fragments: int = 1

    @property
    def size(self) -> int:
        return len(self.payload.encode() if isinstance(self.payload, str) else self.payload)

    @property
    def invalid_utf8(self) -> bool:
        if self.binary or isinstance(self.payload, str):
            return False
        try:
            self.payload.decode()
        except UnicodeDecodeError:
            return True
        return False

    def send(self, ws: ClientConnection) -> None:
        if self.fragments > 1 and isinstance(self.payload, str):
            step = max(1, len(self.payload) // self.fragments)
            ws.send([self.payload[i : i + step] for i in range(0, len(self.payload), step)])
        else:
            ws.send(self.payload, text=not self.binary)

    def __repr__(self) -> str:
        kind = "binary" if self.binary else f"text in {self.fragments} fragment(s)"
        if self.size <= 200:
            return f"{kind} {self.payload!r}"
        return f"{kind} {self.payload[:200]!r}… ({self.size} bytes)"


# --- the frames ---------------------------------------------------------------------------------

huge_numbers = st.sampled_from(
    ["1" * 400, "1e999999", "-1E+400", "1e-400", "-0", "0.000000000000000000001", "1" * 4000,
     "99999999.999", "100000000.00", "9223372036854775808", "-9223372036854775809", "1.0e2",
     "0x10", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1"]
)  # fmt: skip
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["3000", "3000.00", "1e3", "", " ", "\x00", "\u0661", "null", "true"]),
)


def containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


json_values = st.recursive(json_scalars, containers, max_leaves=12)
message_types = st.text(max_size=12) | st.sampled_from(
    ["place_bid", "ping", "pong", "PING", "Place_bid", "", "error", "auction_status", "new_bid",
     "subscribe", "notification"]
)  # fmt: skip
field_names = st.sampled_from(["type", "amount", "max_amount", "bid_id", "data", "seq"])


# Field values as JSON text: plausible ones (bids that may be accepted, valid keys), generated
# JSON of any type, and number texts ``json`` would not write.
plausible = st.one_of(
    st.integers(min_value=2000, max_value=10**6).map(str),
    st.decimals(min_value=1, max_value=10**6, places=2).map(str),
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True).map(json.dumps),
)
field_values = st.one_of(plausible, json_values.map(json.dumps), huge_numbers)


@st.composite
def protocol_messages(draw: st.DrawFn) -> str:
    """Every message of docs/websocket.md § 2 and § 7 (``place_bid`` with ``max_amount`` and
    ``bid_id``, ``ping``), with fields added, dropped, retyped, duplicated and misnamed."""
    fields: dict[str, str] = {"type": json.dumps(draw(message_types))}  # name -> JSON text
    for name in ("amount", "max_amount", "bid_id"):
        if draw(st.booleans()):
            fields[name] = draw(field_values)
    for name, value in draw(
        st.dictionaries(field_names | st.text(max_size=8), field_values, max_size=2)
    ).items():
        fields.setdefault(name, value)
    body = ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items())
    if draw(st.booleans()):  # the same key twice: which one wins?
        body += ', "type": "place_bid"'
    return "{" + body + "}"


deep_nesting = st.integers(min_value=1, max_value=MAX_FRAME_BYTES // 2).flatmap(
    lambda depth: st.sampled_from(
        ["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth,
         '{"type": "place_bid", "amount": ' + "[" * depth + "]" * depth + "}"]
    )
)  # fmt: skip
frames = st.one_of(
    protocol_messages().map(Frame),
    json_values.map(lambda value: Frame(json.dumps(value))),
    huge_numbers.map(lambda number: Frame('{"type": "place_bid", "amount": ' + number + "}")),
    deep_nesting.map(Frame),
    st.text(max_size=200).map(Frame),  # not JSON, mostly
    st.binary(max_size=200).map(lambda raw: Frame(b"\xff" + raw)),  # text frame, not UTF-8
    st.binary(max_size=200).map(lambda raw: Frame(raw, binary=True)),
    st.just(Frame("")),
    st.just(Frame(b"", binary=True)),
    protocol_messages().map(lambda text: Frame(text, fragments=3)),
    st.integers(min_value=1, max_value=3).map(lambda n: Frame("x" * (MAX_FRAME_BYTES + n))),
)


# --- the sockets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Socket:
    name: str
    path: str  # ``{auction}`` stands for the cast's auction
    who: str | None  # whose token the URL carries (``buyer``, ``seller``), None for a spectator
    greeting: str  # the first message's type
    max_frame: int  # bytes; a longer frame is closed with 1009

    def url(self, server: WebServer, cast: Cast) -> str:
        url = server.url.replace("http", "ws", 1) + self.path.format(auction=cast.auction)
        return url if self.who is None else f"{url}?token={getattr(cast, self.who).token}"


SOCKETS = [
    Socket("auction, bidder", "/ws/auction/{auction}/", "buyer", "auction_status", 4096),
    Socket("auction, seller", "/ws/auction/{auction}/", "seller", "auction_status", 4096),
    Socket("auction, spectator", "/ws/auction/{auction}/", None, "auction_status", 4096),
    Socket("notifications", "/ws/notifications/", "buyer", "unread_count", 1024),
]


class Refused(AssertionError):
    """The server closed the socket in a way no frame justifies, or stopped answering."""


def receive(ws: ClientConnection) -> dict[str, Any]:
    raw = ws.recv(timeout=10)
    assert isinstance(raw, str), f"a binary frame from the server: {raw!r}"
    message: dict[str, Any] = json.loads(raw)
    assert message.get("type") in SERVER_TYPES, message
    assert message["type"] != "error" or message.get("code") != "internal", message
    return message


@contextmanager
def opened(server: WebServer, socket: Socket, cast: Cast) -> Iterator[ClientConnection]:
    with connect(socket.url(server, cast), max_size=2**22, open_timeout=10, close_timeout=5) as ws:
        assert receive(ws)["type"] == socket.greeting
        yield ws


def answers_pings(ws: ClientConnection) -> None:
    """Send a ``ping``; read what the last frame caused until its ``pong``."""
    ws.send('{"type": "ping"}')
    while receive(ws)["type"] != "pong":
        pass


def close_of(ws: ClientConnection) -> int | None:
    close = ws.protocol.close_rcvd
    return close.code if close is not None else None


def justified_closes(frame: Frame, socket: Socket) -> set[int]:
    """The closes the protocol answers this frame with."""
    return ({MESSAGE_TOO_BIG} if frame.size > socket.max_frame else set()) | (
        {INVALID_PAYLOAD} if frame.invalid_utf8 else set()
    )


def hostile_session(server: WebServer, socket: Socket, cast: Cast, sent: list[Frame]) -> None:
    """Send the frames, each followed by a ping; a justified close ends the session.

    The server may answer the ping that follows a frame it closes for before its close arrives,
    and the close frame is lost (no code) when a frame of ours crosses it: a close is justified by
    any frame sent before it."""
    justified: set[int] = set()
    with opened(server, socket, cast) as ws:
        for index, frame in enumerate(sent):
            justified |= justified_closes(frame, socket)
            try:
                frame.send(ws)
                answers_pings(ws)
            except ConnectionClosed:
                code = close_of(ws)
                if code in justified or (code is None and justified):
                    return
                raise Refused(
                    f"{socket.name}: closed with {code} ({ws.protocol.close_rcvd}) after "
                    f"frame {index + 1} of {sent}"
                ) from None
            except TimeoutError:
                raise Refused(f"{socket.name}: no pong after frame {index + 1} of {sent}") from None


@pytest.mark.parametrize("socket", SOCKETS, ids=[s.name for s in SOCKETS])
def test_hostile_frames_never_break_a_socket(
    socket: Socket, cast: Cast, fuzz_server: WebServer
) -> None:
    @settings(
        max_examples=FUZZ_EXAMPLES * 10,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(sent=st.lists(frames, min_size=1, max_size=6))
    def fuzz(sent: list[Frame]) -> None:
        hostile_session(fuzz_server, socket, cast, sent)

    fuzz()
    # And after all that, a fresh connection is served as ever.
    with opened(fuzz_server, socket, cast) as ws:
        answers_pings(ws)


# --- hostile connect URLs -----------------------------------------------------------------------

# What docs/websocket.md § 1 and § 8 answer a bad URL with: refused ids, since_seq and tokens.
URL_CLOSES = {4400, 4401, 4404}
odd_texts = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(min_size=1, max_size=24),
    st.sampled_from(["\u0661", "\uff11", "00001", "1e3", "1.0", " 1", "1 ", "\x00", "9" * 400]),
)


@st.composite
def connect_paths(draw: st.DrawFn) -> str:
    """A socket URL's path and query with a hostile auction id, ``since_seq`` or ``token``."""
    if draw(st.booleans()):
        path = "/ws/notifications/"
    else:
        auction = draw(st.none() | odd_texts)  # None: the cast's auction
        path = f"/ws/auction/{'{auction}' if auction is None else quote(auction, safe='')}/"
    query = draw(
        st.dictionaries(st.sampled_from(["since_seq", "token", "Token"]), odd_texts, max_size=2)
    )
    return path + ("?" + urlencode(query) if query else "")


@settings(
    max_examples=FUZZ_EXAMPLES * 10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(path=connect_paths())
def test_hostile_connect_urls_get_a_documented_answer(
    path: str, cast: Cast, fuzz_server: WebServer
) -> None:
    """Refused with a 4xx handshake or one of the documented closes, or served; never a 5xx,
    never a 1011 or 4500."""
    url = fuzz_server.url.replace("http", "ws", 1) + path.replace("{auction}", str(cast.auction))
    try:
        with connect(url, max_size=2**22, open_timeout=10, close_timeout=5) as ws:
            try:
                receive(ws)
                answers_pings(ws)
            except ConnectionClosed:
                assert close_of(ws) in URL_CLOSES, f"{url}: closed with {ws.protocol.close_rcvd}"
    except InvalidStatus as refused:
        status = refused.response.status_code
        assert status < 500, f"{url}: handshake answered {status}"
