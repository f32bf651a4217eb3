"""Request ids and JSON logs.

Every HTTP response carries ``X-Request-ID`` (the caller's, when it sent a sane one, so a
request can be followed through a proxy; otherwise a new one), and every log line written while
serving it knows that id. ``LOG_FORMAT=json`` writes one JSON object per line (for a log
shipper), the uvicorn access log included; the default stays plain text for people.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from madeinpk.settings import Settings

HEADER = "x-request-id"
_STATE_KEY = "request_id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_for(scope: Scope) -> str:
    """The request's id, decided once per connection and kept in its scope state."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    rid = state.get(_STATE_KEY)
    if rid is None:
        incoming = MutableScopeHeaders(scope).get(HEADER)
        rid = incoming if incoming and _VALID.fullmatch(incoming) else uuid.uuid4().hex
        state[_STATE_KEY] = rid
    request_id_var.set(rid)
    return str(rid)


class RequestIdMiddleware:
    """Sets the id before anything below logs (auth, handlers, the bid engine). Not reset on
    the way out: each connection runs in its own task, and the access log line is written
    after the handler returns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            request_id_for(scope)
        await self.app(scope, receive, send)


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: app-wide, so 404s and errors raised in middleware get it too."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[HEADER] = request_id_for(scope)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(settings: Settings) -> LoggingConfig:
    """Expected errors are answers, not incidents (the 500 handler logs real failures itself);
    the scheduler announces every 2-second sweep at INFO, so taskiq logs from WARNING up."""
    if settings.log_format != "json":
        return LoggingConfig(
            log_exceptions="never",
            loggers={"taskiq": {"level": "WARNING", "propagate": True}},
        )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    own = {"handlers": ["json"], "propagate": False}  # uvicorn's levels: its --log-level
    return LoggingConfig(
        log_exceptions="never",
        formatters={"json": {"()": JsonFormatter}},
        filters={"request_id": {"()": RequestIdFilter}},
        handlers={"json": handler},
        root={"handlers": ["json"], "level": "INFO"},
        loggers={
            "litestar": {**own, "level": "INFO"},
            "uvicorn.error": own,
            "uvicorn.access": own,
            "taskiq": {**own, "level": "WARNING"},
        },
    )
