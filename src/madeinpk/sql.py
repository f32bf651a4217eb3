"""Raw SQL where the query builder costs too much (the bid path) or cannot say it: one way to
write it, with parameters bound by name, run on the current transaction's own connection.

``:name`` becomes ``$n`` on PostgreSQL and ``?`` on SQLite; a list bound to a name used as
``IN (:name)`` is spread into one placeholder per item on SQLite and passed as an array (write
``= ANY(:name)``) on PostgreSQL, so such statements are written per engine.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType
from piccolo.table import Table

_decode_row = msgspec.json.Decoder(dict[str, Any]).decode
_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """PostgreSQL's text for ``sql`` and the names its ``$n`` stand for: the same for every call
    of a statement, so it is worked out once (the bid path runs a handful of statements)."""
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAME.sub(placeholder, sql), tuple(names)


def bind(sql: str, params: Mapping[str, Any], postgres: bool) -> tuple[str, list[Any]]:
    if postgres:
        text, names = _numbered(sql)
        return text, [params[name] for name in names]
    args: list[Any] = []

    def placeholder(match: re.Match[str]) -> str:
        value = params[match.group(1)]
        if isinstance(value, list | tuple):
            args.extend(value)
            return ", ".join("?" * len(value)) or "NULL"
        args.append(value)
        return "?"

    return _NAME.sub(placeholder, sql), args


def rows_sql(columns: Sequence[str], count: int, prefix: str = "r") -> str:
    """``(:r0_a, :r0_b), (:r1_a, :r1_b), …`` for a multi-row ``VALUES``."""
    return ", ".join(
        "(" + ", ".join(f":{prefix}{i}_{c}" for c in columns) + ")" for i in range(count)
    )


def rows_params(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], prefix: str = "r"
) -> dict[str, Any]:
    return {
        f"{prefix}{i}_{c}": value
        for i, row in enumerate(rows)
        for c, value in zip(columns, row, strict=True)
    }


@lru_cache(maxsize=64)
def _column_types(table: type[Table]) -> dict[str, str]:
    return {c._meta.db_column_name: c.column_type for c in table._meta.columns}


@asynccontextmanager
async def transaction(engine: Engine) -> AsyncIterator[Connection]:
    """A write transaction on the bid path: a pooled connection on PostgreSQL; on SQLite the
    engine's long-lived writer, holding the write lock from the start (``BEGIN IMMEDIATE``)."""
    if isinstance(engine, PostgresEngine):
        async with engine.transaction() as current:
            yield Connection(True, current.connection)
        return
    writer = getattr(engine, "writer", None)
    if writer is None:  # a plain SQLiteEngine: Piccolo's own immediate transaction
        async with engine.transaction(transaction_type=TransactionType.immediate) as current:
            yield Connection(False, current.connection)
        return
    async with writer() as raw:
        # BEGIN IMMEDIATE goes with the first statements, in the same trip to SQLite's thread.
        connection = Connection(False, raw, begin="BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            if raw.in_transaction:
                await raw.execute("ROLLBACK")
            raise
        if raw.in_transaction:
            await raw.execute("COMMIT")


class Connection:
    """The connection of the transaction in progress, spoken to in one SQL style.

    On SQLite (aiosqlite), every call is a trip to the connection's thread and back to the
    event loop, which costs more than a small statement: statements that go together
    (``together``, and a pending ``begin``) make one trip."""

    def __init__(self, postgres: bool, raw: Any, begin: str | None = None) -> None:
        self.postgres = postgres
        self._raw = raw
        self._begin = begin

    async def fetch(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        text, args = bind(sql, params, self.postgres)
        if self.postgres:
            return [dict(r) for r in await self._raw.fetch(text, *args)]
        (rows,) = await self._in_sqlite_thread([(text, args)])
        return rows

    async def execute(self, sql: str, **params: Any) -> None:
        text, args = bind(sql, params, self.postgres)
        if self.postgres:
            await self._raw.execute(text, *args)
        else:
            await self._in_sqlite_thread([(text, args)])

    async def _in_sqlite_thread(
        self, statements: list[tuple[str, list[Any]]]
    ) -> list[list[dict[str, Any]]]:
        begin, self._begin = self._begin, None

        def run(connection: sqlite3.Connection) -> list[list[dict[str, Any]]]:
            if begin is not None:
                connection.execute(begin)
            return [list(connection.execute(text, args).fetchall()) for text, args in statements]

        # aiosqlite runs a function on its thread with ``_execute``: no public name for it.
        return await self._raw._execute(run, self._raw._conn)  # type: ignore[no-any-return]

    def insert_sql(
        self,
        table: type[Table],
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
        prefix: str = "r",
    ) -> tuple[str, dict[str, Any]]:
        """One ``INSERT`` of many rows (``suffix`` may add ``ON CONFLICT``/``RETURNING``).

        On PostgreSQL the rows travel as one array per column (``unnest``), so the statement
        text is the same for any number of rows and is prepared once per connection."""
        names = ", ".join(f'"{c}"' for c in columns)
        into = f'INSERT INTO "{table._meta.tablename}" ({names})'
        if self.postgres:
            types = _column_types(table)
            arrays = ", ".join(f":{prefix}{i}::{types[c]}[]" for i, c in enumerate(columns))
            by_column = {
                f"{prefix}{i}": list(values) for i, values in enumerate(zip(*rows, strict=True))
            }
            return f"{into} SELECT * FROM unnest({arrays}) {suffix}", by_column
        values = rows_sql(columns, len(rows), prefix)
        return f"{into} VALUES {values} {suffix}", rows_params(columns, rows, prefix)

    async def insert_rows(
        self,
        table: type[Table],
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
        **params: Any,
    ) -> list[dict[str, Any]]:
        if not rows:
            return []
        sql, values = self.insert_sql(table, columns, rows, suffix)
        return await self.fetch(sql, **values, **params)

    async def together(
        self, statements: Sequence[tuple[str, dict[str, Any]]], *returning: int
    ) -> list[list[dict[str, Any]]]:
        """Independent writes (no two touching the same rows, and none reading another's), as one
        round trip on PostgreSQL (data-modifying CTEs; on SQLite in the order given); for each
        index in ``returning``, that statement's ``RETURNING`` rows. Their parameter names must
        not clash."""
        if self.postgres and len(statements) > 1:
            ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
            params = {k: v for _, p in statements for k, v in p.items()}
            if len(returning) == 1:
                rows = await self.fetch(f"WITH {ctes} SELECT * FROM w{returning[0]}", **params)
                return [rows]
            if not returning:
                await self.fetch(f"WITH {ctes} SELECT 1", **params)
                return []
            tail = " UNION ALL ".join(
                f"SELECT {n} AS w, row_to_json(w{i})::text AS r FROM w{i}"
                for n, i in enumerate(returning)
            )
            results: list[list[dict[str, Any]]] = [[] for _ in returning]
            for row in await self.fetch(f"WITH {ctes} {tail}", **params):
                results[row["w"]].append(_decode_row(row["r"]))
            return results
        if self.postgres:
            sql, params = statements[0]
            rows = await self.fetch(sql, **params)
            return [rows if i == 0 else [] for i in returning]
        results = await self._in_sqlite_thread(
            [bind(sql, params, False) for sql, params in statements]
        )
        return [results[i] for i in returning]
