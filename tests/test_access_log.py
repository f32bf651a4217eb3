"""Login keys never reach the logs, though sockets carry them in the URL."""

from __future__ import annotations

import logging

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from madeinpk.app import RedactTokens
from madeinpk.lean_websockets import LeanWebSocketProtocol


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


def test_the_websocket_library_does_not_repeat_uvicorns_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One line per socket (uvicorn's ``[accepted]``), not also "connection open"/"closed"."""
    protocol = LeanWebSocketProtocol(
        Config(app=None, ws="websockets-sansio"), ServerState(), app_state={}
    )
    with caplog.at_level(logging.INFO):
        protocol.conn.logger.info("connection open")
        protocol.conn.logger.warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
