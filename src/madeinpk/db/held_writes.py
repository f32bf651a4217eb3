"""Writes on condition that a row still holds what the writer expects, in one round trip
(``write_if_held``): the bid path's write on a state it already knows, without taking the row's
lock first. The rest of raw SQL (binding, ``Dialect``, ``Connection``) is ``sql``'s."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.engine.base import Engine

from madeinpk.db.sql import (
    POSTGRES,
    SQLITE,
    Connection,
    Statement,
    _decode_row,
    _split_rows,
    _with_ctes,
    _writer,
    is_postgres,
    transaction,
)

# What a statement that depends on ``held`` adds on PostgreSQL (``write_if_held``).
IF_HELD = "EXISTS (SELECT 1 FROM held)"
# What ``write_if_held``'s ``current`` adds on PostgreSQL: it reads only when nothing was written.
IF_NOT_HELD = "NOT EXISTS (SELECT 1 FROM held)"


@dataclass(frozen=True, slots=True)
class Moved:
    """``write_if_held`` found the row no longer as expected and wrote nothing; ``rows`` is what
    its ``current`` read instead (empty without one), after whatever moved the row committed."""

    rows: list[dict[str, Any]]


async def write_if_held(
    engine: Engine,
    held: Statement,
    statements: Sequence[Statement],
    *returning: int,
    current: Statement | None = None,
) -> list[list[dict[str, Any]]] | Moved:
    """One transaction in one round trip, for a writer that already knows what it expects:
    ``held`` (an ``UPDATE … WHERE <unchanged> RETURNING``, or a ``SELECT``) goes first, and
    ``statements`` count only when it returned a row. ``Moved`` when it returned none: nothing
    was written, and ``current`` (a ``SELECT``), if given, says what the row holds now, so the
    writer can decide again without another trip. Otherwise, as ``together``, the ``RETURNING``
    rows of each index in ``returning``.

    On PostgreSQL this is one autocommitted statement, so each of ``statements`` must itself
    depend on ``held``: add ``IF_HELD`` to its condition (``only_if`` for ``insert_sql``), and
    ``current`` must add ``IF_NOT_HELD`` and lock the row it reads (``FOR UPDATE``): a plain
    read sees the statement's snapshot, from before the writer it waited for committed, while a
    locking one waits for that writer and reads the row it left. On SQLite the statements run
    one after another in a single trip to the connection's thread, from ``BEGIN IMMEDIATE`` to
    ``COMMIT`` (or ``current`` then ``ROLLBACK``)."""
    if is_postgres(engine):
        query, params = _with_ctes(held, statements, returning, current)
        if engine.pool is not None:
            async with engine.pool.acquire() as raw:
                rows = await Connection(POSTGRES, raw).fetch(query, **params)
        else:
            raw = await engine.get_new_connection()
            try:
                rows = await Connection(POSTGRES, raw).fetch(query, **params)
            finally:
                await raw.close()
        if not any(row["w"] == -1 for row in rows):
            return Moved([_decode_row(row["r"]) for row in rows if row["w"] == -2])
        return _split_rows(rows, len(returning))
    writer = _writer(engine)
    if writer is None:  # a plain SQLiteEngine: the same, in Piccolo's immediate transaction
        async with transaction(engine) as db:
            if not await db.fetch(held[0], **held[1]):
                return Moved(await db.fetch(current[0], **current[1]) if current else [])
            return await db.together(statements, *returning) if statements else []
    bound = [SQLITE.bind(sql, params) for sql, params in [held, *statements]]
    reread = SQLITE.bind(current[0], current[1]) if current else None

    def run(connection: sqlite3.Connection) -> list[list[dict[str, Any]]] | Moved:
        connection.execute(SQLITE.begin)
        try:
            first, *rest = bound
            if not connection.execute(*first).fetchall():
                now = list(connection.execute(*reread).fetchall()) if reread else []
                connection.execute("ROLLBACK")
                return Moved(now)
            results = [list(connection.execute(text, args).fetchall()) for text, args in rest]
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return [results[i] for i in returning]

    async with writer() as raw:
        # aiosqlite runs a function on its thread with ``_execute`` (as ``_in_sqlite_thread``).
        return await raw._execute(run, raw._conn)  # type: ignore[no-any-return]
