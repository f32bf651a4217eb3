"""503 instead of 500 while PostgreSQL or Redis is away.

A restart of either is an expected event, not a bug: the client gets a DRF-style
``{"detail": …}`` it can show and retry on, with ``Retry-After``, and no driver message; the log
gets one line (no traceback) naming the backend. The connection pools recover by themselves:
asyncpg replaces a connection the server closed on its next acquire, and redis-py reconnects.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from litestar import MediaType, Request, Response
from redis.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from madeinpk.db.pg_engine import LOST_TEXTS
from madeinpk.http.errors import EXCEPTION_HANDLERS, RETRY_AFTER_SECONDS, UNAVAILABLE
from madeinpk.observability import metrics

logger = logging.getLogger(__name__)


#: asyncpg's errors for a server that is gone, going, starting, or full.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # the connection broke or could not be made
    asyncpg.exceptions.OperatorInterventionError,  # shutting down / starting up / terminated
    asyncpg.exceptions.TooManyConnectionsError,
)
#: redis-py's for a server that is gone, and a Redis Cluster's for a master down or slots moving.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,
    TryAgainError,
    SlotNotCoveredError,
)
#: A refused or reset socket, or a connect that timed out, below either driver.
NETWORK_ERRORS: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)


def is_closed_connection(exc: BaseException) -> bool:
    """asyncpg's generic errors for a pooled connection the server closed or is closing: an
    ``InterfaceError`` ("connection is closed"), or an ``InternalClientError`` from a protocol
    still consuming the termination notice (see ``madeinpk.db.pg_engine``)."""
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError) and (
        any(text in str(exc) for text in LOST_TEXTS)
    )


def _backend(exc: BaseException) -> str:
    if isinstance(exc, REDIS_ERRORS):
        return "redis"
    if isinstance(exc, DATABASE_ERRORS) or is_closed_connection(exc):
        return "database"
    return "network"


def unavailable_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    backend = _backend(exc)
    metrics.record_backend_unavailable(backend)
    logger.warning(
        "%s %s answered 503: %s unavailable (%s)",
        request.method,
        request.url.path,
        backend,
        type(exc).__name__,
    )
    return Response(
        content={"detail": UNAVAILABLE},
        status_code=503,
        media_type=MediaType.JSON,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _generic_driver_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_closed_connection(exc):
        return unavailable_response(request, exc)
    handler = EXCEPTION_HANDLERS[500]
    response: Response[Any] = handler(request, exc)
    return response


#: Merged over ``http.errors.EXCEPTION_HANDLERS`` in the app (most specific class wins).
OUTAGE_HANDLERS: dict[Any, Any] = {
    **{cls: unavailable_response for cls in (*DATABASE_ERRORS, *REDIS_ERRORS, *NETWORK_ERRORS)},
    asyncpg.InterfaceError: _generic_driver_error,
    asyncpg.exceptions.InternalClientError: _generic_driver_error,
}
