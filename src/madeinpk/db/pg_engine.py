"""Piccolo's PostgreSQL engine, with transactions that clean up after a dead connection.

Found by restarting PostgreSQL under load: ``PostgresTransaction.__aexit__`` rolls back, then
releases the connection and resets the "current transaction" context variable, in that order
and without ``finally``. When the server has gone, the rollback raises, so the connection is
never given back to the pool (one slot lost per failed transaction, until the pool is empty and
every request waits for ever) and the context keeps pointing at the dead transaction: in a
WebSocket, whose messages all run in one task, every later bid on that socket failed with
"connection is closed" long after the database was back. ``__aenter__`` had the same leak when
``BEGIN`` failed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

if TYPE_CHECKING:
    from madeinpk.db.read_replicas import ReplicaRouter

logger = logging.getLogger(__name__)

# A server that went away, as asyncpg reports it (mapped to 503 by ``madeinpk.asgi.outages``).
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)
# asyncpg texts that mean the same: a closed connection, and a protocol stuck consuming an
# error the server sent unasked (state 2, ERROR_CONSUME: its termination notice).
LOST_TEXTS = ("connection is closed", "another operation (2) is in progress")


def _lost_error() -> Exception:
    return asyncpg.ConnectionDoesNotExistError("the connection to the database was lost")


def _gone(connection: Any, *errors: BaseException) -> bool:
    """Whether the failures of a transaction were the connection going away."""
    try:
        if connection.is_closed():
            return True
    except asyncpg.InterfaceError:  # the pool took the proxy back: its connection closed
        return True
    return any(isinstance(e, _LOST) or any(text in str(e) for text in LOST_TEXTS) for e in errors)


class CleanupTransaction(PostgresTransaction):
    """Always releases its connection and resets the context; when the block already failed,
    a failing rollback does not hide the original error (the one that says what happened)."""

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            self.transaction = self.connection.transaction()
            await self.begin()
        except Exception as exc:
            # A pooled connection the server has just terminated fails its BEGIN this way.
            lost = _gone(self.connection, exc) and not isinstance(exc, _LOST)
            await self._give_back()
            if lost:
                raise _lost_error() from exc
            raise
        except BaseException:
            await self._give_back()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception is not None:
                if not self._rolled_back:
                    await self._roll_back_after(exception)
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back()
        return exception is None

    async def _roll_back_after(self, exception: BaseException) -> None:
        """If the rollback shows the connection is gone, say that: the block's own error is
        then often an asyncpg internal one ("cannot switch to state 12; another operation is
        in progress", after the server terminated a connection idle in this transaction),
        which would otherwise read as a bug and answer 500."""
        try:
            await self.rollback()
        except Exception as rollback_error:
            logger.debug("Rollback failed after %r: %r", exception, rollback_error)
            if _gone(self.connection, exception, rollback_error) and not isinstance(
                exception, _LOST
            ):
                raise _lost_error() from exception

    async def _give_back(self) -> None:
        try:
            if self.engine.pool:
                await self.engine.pool.release(self.connection)
            else:
                await self.connection.close()
        except Exception as exc:
            logger.debug("Discarding a broken connection: %r", exc)
            self.connection.terminate()


class PooledConnection(asyncpg.Connection):
    """A pooled connection given back without asyncpg's reset query (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``): one more round trip after every transaction, before
    the code that committed can go on (on the bid path: before the events go out). Nothing
    here takes advisory locks, opens cursors, listens or sets session variables; an open
    transaction is still rolled back by asyncpg whatever this returns."""

    def get_reset_query(self) -> str:
        return ""


class CleanupPostgresEngine(PostgresEngine):
    # Where reads that tolerate staleness go, when this app process has replicas.
    replicas: ReplicaRouter | None = None

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return CleanupTransaction(engine=self, allow_nested=allow_nested)
