"""Engines: built from ``Settings``, bound to the tables, opened and closed with the process.

Tables are bound to an engine built from ``Settings`` rather than found through
``piccolo_conf``, so a test or a second app in one process can point at its own database. Only
the assembly (the app factory, the worker, the CLI) builds engines; domains use
``madeinpk.db.database`` and ``madeinpk.db.sql``, which load no driver-specific engine code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from madeinpk.db.database import ALL_TABLES
from madeinpk.db.pg_engine import CleanupPostgresEngine, PooledConnection
from madeinpk.db.read_replicas import ReplicaRouter, replicas_running
from madeinpk.db.sql import SESSION_SETTINGS, is_postgres
from madeinpk.settings import Settings

CONNECT_TIMEOUT = 5.0
CLOSE_TIMEOUT = 3.0

_SERIALS = {"SERIAL": "INTEGER", "BIGSERIAL": "BIGINT", "SMALLSERIAL": "SMALLINT"}


def array_types() -> list[str]:
    """An array type for each base type of our columns (``NUMERIC(10, 2)`` is ``NUMERIC[]``):
    what ``sql.insert_sql`` binds its rows as, and ``= ANY(...)`` its lists."""
    bases = {c.column_type.split("(")[0].strip() for t in ALL_TABLES for c in t._meta.columns}
    return sorted({f"{_SERIALS.get(base, base)}[]" for base in bases})


async def load_array_codecs(connection: asyncpg.Connection) -> None:
    """The pool's ``init``: asyncpg has no built-in codec for most array types and looks each
    one up with a heavy catalog query, once per connection, on the first statement that uses
    it. On the bid path that was a new connection's first batch (two lookups, ~8 ms of a
    14 ms answer); here the connection makes them all in one lookup when it opens."""
    await connection.prepare("SELECT " + ", ".join(f"NULL::{t}" for t in array_types()))


class EmbeddedSQLiteEngine(SQLiteEngine):
    """SQLite as the embedded default runs it: in WAL mode (set once, kept in the file) with
    ``synchronous=NORMAL`` on every connection. A commit then costs no fsync (1.5 ms here): the
    database stays consistent and keeps every commit through an application crash; only a
    power cut may lose the last moments, which is why production runs on PostgreSQL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: Any = None
        self._writer_lock: asyncio.Lock | None = None

    async def get_connection(self) -> Any:
        connection = await super().get_connection()
        await connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[Any]:
        """One long-lived connection for the bid path's transactions, taken in turn: a new
        connection (and its thread) per hot-auction batch would cost more than the batch."""
        if self._writer_lock is None:
            self._writer_lock = asyncio.Lock()
        async with self._writer_lock:
            if self._writer is None:
                self._writer = await self.get_connection()
            try:
                yield self._writer
            except BaseException:
                writer, self._writer = self._writer, None  # never reuse one in doubt
                with contextlib.suppress(Exception):
                    await writer.close()
                raise

    async def close_writer(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()


def build_engine(settings: Settings, *, replicas: bool = False) -> Engine:
    """``replicas``: send reads that tolerate staleness to ``DATABASE_REPLICA_URLS`` (app
    processes only; the worker and the CLI read on the primary)."""
    db = settings.database
    if db.engine == "sqlite":
        assert db.sqlite_path is not None
        db.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        # A generous busy timeout: writers queue behind SQLite's single write lock.
        return EmbeddedSQLiteEngine(path=str(db.sqlite_path), timeout=30)
    # Transactions that give their connection back even when the server is gone.
    engine = CleanupPostgresEngine(config={"dsn": db.url, "server_settings": SESSION_SETTINGS})
    if replicas and settings.replicas.urls:
        engine.replicas = ReplicaRouter(engine, settings)
    return engine


def bind_tables(engine: Engine) -> None:
    for table in ALL_TABLES:
        table._meta._db = engine


@asynccontextmanager
async def database_lifespan(engine: Engine, settings: Settings) -> AsyncIterator[None]:
    """Open the connection pool (PostgreSQL) or switch SQLite to WAL, and close on the way out."""
    bind_tables(engine)
    if is_postgres(engine):
        size = settings.database_pool_size
        # asyncpg waits 60 s for a connection by default; while the server restarts a request
        # should fail (503) in seconds instead. A connection the server closed is replaced on
        # its next acquire, so the pool recovers by itself.
        await engine.start_connection_pool(
            min_size=min(2, size),
            max_size=size,
            timeout=CONNECT_TIMEOUT,
            connection_class=PooledConnection,
            init=load_array_codecs,
        )
        try:
            async with replicas_running(getattr(engine, "replicas", None)):
                yield
        finally:
            await _close_pool(engine)
    else:
        # WAL lets readers (every socket's snapshot) proceed while a bid commits.
        await engine.run_ddl("PRAGMA journal_mode=WAL;")
        try:
            yield
        finally:
            if isinstance(engine, EmbeddedSQLiteEngine):
                await engine.close_writer()


async def _close_pool(engine: PostgresEngine) -> None:
    """Close gracefully, but never let shutdown wait on a query stuck on a dead server."""
    pool = engine.pool
    if pool is None:
        return
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await pool.close()
    except TimeoutError:
        pool.terminate()
    engine.pool = None
