"""Login keys never reach the logs, though sockets carry them in the URL."""

from __future__ import annotations

import asyncio
import logging

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from madeinpk.app import RedactTokens
from madeinpk.asgi.lean_websockets import LeanWebSocketProtocol


def test_token_in_a_socket_url_is_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/ws/auction/1?token=5bac2ab92d4d316ad430b4d41319c979bde86d2e&x=1"),
        None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "5bac2ab92d4d" not in line
    assert "/ws/auction/1?token=[redacted]&x=1" in line


KEY = "5bac2ab92d4d316ad430b4d41319c979bde86d2e"


@pytest.mark.parametrize(
    "query",
    [
        f"tok%65n={KEY}",
        f"%74%6F%6B%65%6E={KEY}",
        f"TOKEN={KEY}",
        f"Token={KEY}&x=1",
        f"x=1&tOk%45n={KEY}",
        f"to+ken=1&token={KEY}",
        f"access_token={KEY}",
    ],
)
def test_a_key_under_any_spelling_of_token_is_redacted(query: str) -> None:
    """Litestar percent-decodes parameter names, so ``?tok%65n=`` signs in as ``?token=``
    does: the log decodes names before it decides, and ignores their case."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/notifications/?{query}", "1.1", 200),
        None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert KEY not in line, line
    assert "[redacted]" in line


def test_other_parameters_are_left_as_they_are() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s"',
        ("127.0.0.1:5000", "GET", "/api/products/?search=tok%65n&page=2"),
        None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/products/?search=tok%65n&page=2"'


async def never_served(scope: object, receive: object, send: object) -> None:
    """The protocol below only logs: no connection reaches an app."""
    raise AssertionError("not served")


def test_the_websocket_library_does_not_repeat_uvicorns_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One line per socket (uvicorn's ``[accepted]``), not also "connection open"/"closed"."""
    loop = asyncio.new_event_loop()  # its own: a sync test may run where none is current
    try:
        protocol = LeanWebSocketProtocol(
            Config(app=never_served, ws="websockets-sansio"),
            ServerState(),
            app_state={},
            _loop=loop,
        )
        with caplog.at_level(logging.INFO):
            protocol.conn.logger.info("connection open")
            protocol.conn.logger.warning("a real problem")
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
