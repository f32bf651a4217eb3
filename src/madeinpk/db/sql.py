"""Raw SQL where the query builder costs too much (the bid path) or cannot say it: one way to
write it, with parameters bound by name, and one ``Dialect`` to ask what differs by engine.

``:name`` becomes ``$n`` on PostgreSQL and ``?`` on SQLite; a list bound to a name is passed as
an array on PostgreSQL and spread into one placeholder per item on SQLite, so a membership test
is written ``{dialect.among("name")}`` (``= ANY(:name)`` or ``IN (:name)``). Statements run on
the current transaction's own connection (``Connection``), or, outside the bid path, as a
Piccolo query (``raw``) that joins whatever transaction is in progress.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeGuard

import msgspec
from piccolo.apps.user.tables import BaseUser
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType
from piccolo.query.methods.raw import Raw
from piccolo.table import Table

from madeinpk.money import stored_money
from madeinpk.timestamps import as_utc

_decode_row = msgspec.json.Decoder(dict[str, Any]).decode
_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

Statement = tuple[str, dict[str, Any]]  # SQL with ``:name`` parameters, and their values

# What every PostgreSQL session of the app sets when it connects (primary and replicas). The
# misspelling match of ``?search=`` (``catalog/search.py``) is pg_trgm's ``<<%``, which its GIN
# index answers only against this threshold (a setting, not an argument): 0.35 lets "carpit"
# find "carpet" (0.4) and "pashmena" "pashmina" (0.5), not "silk" find "silver" (0.33) nor
# "shawl" "shalwar" (0.27). pg_trgm's default, 0.5, misses the first.
SESSION_SETTINGS = {"pg_trgm.strict_word_similarity_threshold": "0.35"}


def is_postgres(engine: Engine) -> TypeGuard[PostgresEngine]:
    """The one test of which engine this is (else SQLite): everything else asks ``dialect``."""
    return isinstance(engine, PostgresEngine)


def dialect(engine: Engine | None = None) -> Dialect:
    """The dialect of ``engine``, by default the one the tables are bound to."""
    return POSTGRES if is_postgres(BaseUser._meta.db if engine is None else engine) else SQLITE


@dataclass(frozen=True, slots=True)
class Dialect:
    """What raw SQL must know of the engine it runs on, decided in one place."""

    postgres: bool
    # How a write transaction starts: on SQLite it takes the write lock at once (IMMEDIATE); a
    # deferred one would fail with "database is locked" when two upgrade to writing at once.
    begin: str

    def bind(self, sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """``sql``'s text for the driver (``$n`` or ``?``) and its arguments in order."""
        if self.postgres:
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

    def among(self, name: str) -> str:
        """Membership in the list bound to ``name``: ``= ANY(:name)`` or ``IN (:name)``."""
        return f"= ANY(:{name})" if self.postgres else f"IN (:{name})"

    @staticmethod
    def timestamp(value: Any) -> datetime:
        """A timestamp as read: SQLite returns computed or joined ones as text, and rows that
        travel as JSON (``write_if_held``'s) carry them as text on PostgreSQL too."""
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)

    @staticmethod
    def money(value: Any) -> Decimal | None:
        """A nullable amount as read: ``Decimal`` from PostgreSQL, a float from SQLite, text
        from a JSON row."""
        return stored_money(value)

    def write_transaction(self, engine: Engine) -> Any:
        """A Piccolo transaction for read-then-write work, begun as ``begin`` says."""
        if self.postgres:
            return engine.transaction()
        return engine.transaction(transaction_type=TransactionType.immediate)

    def template(self, sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """``sql`` as Piccolo's ``{}`` template and its arguments (lists as ``bind`` does)."""
        args: list[Any] = []

        def placeholder(match: re.Match[str]) -> str:
            value = params[match.group(1)]
            if not self.postgres and isinstance(value, list | tuple):
                args.extend(value)
                return ", ".join("{}" for _ in value) or "NULL"
            args.append(value)
            return "{}"

        escaped = sql.replace("{", "{{").replace("}", "}}")
        return _NAME.sub(placeholder, escaped), args


POSTGRES = Dialect(postgres=True, begin="BEGIN")
SQLITE = Dialect(postgres=False, begin="BEGIN IMMEDIATE")


def raw(table: type[Table], sql: str, **params: Any) -> Raw:
    """``sql`` (``:name`` parameters) as a Piccolo query on ``table``'s engine, outside the bid
    path: it runs in the transaction in progress, if any, and can be handed to ``stale_read``."""
    template, args = dialect(table._meta.db).template(sql, params)
    return table.raw(template, *args)


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


def _writer(engine: Engine) -> Any:
    """SQLite's long-lived writer connection (``EmbeddedSQLiteEngine.writer``), if it has one."""
    return None if is_postgres(engine) else getattr(engine, "writer", None)


@asynccontextmanager
async def transaction(engine: Engine) -> AsyncIterator[Connection]:
    """A write transaction on the bid path: a pooled connection on PostgreSQL; on SQLite the
    engine's long-lived writer, holding the write lock from the start (``BEGIN IMMEDIATE``)."""
    spoken = dialect(engine)
    writer = _writer(engine)
    if writer is None:  # PostgreSQL, or a plain SQLiteEngine: Piccolo's own transaction
        async with spoken.write_transaction(engine) as current:
            yield Connection(spoken, current.connection)
        return
    async with writer() as raw:
        # BEGIN IMMEDIATE goes with the first statements, in the same trip to SQLite's thread.
        connection = Connection(spoken, raw, begin=spoken.begin)
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

    def __init__(self, dialect: Dialect, raw: Any, begin: str | None = None) -> None:
        self.dialect = dialect
        self._raw = raw
        self._begin = begin

    async def fetch(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        text, args = self.dialect.bind(sql, params)
        if self.dialect.postgres:
            return [dict(r) for r in await self._raw.fetch(text, *args)]
        (rows,) = await self._in_sqlite_thread([(text, args)])
        return rows

    async def execute(self, sql: str, **params: Any) -> None:
        text, args = self.dialect.bind(sql, params)
        if self.dialect.postgres:
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
    ) -> Statement:
        return insert_sql(self.dialect, table, columns, rows, suffix, prefix)

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
        self, statements: Sequence[Statement], *returning: int
    ) -> list[list[dict[str, Any]]]:
        """Independent writes (no two touching the same rows, and none reading another's), as one
        round trip on PostgreSQL (data-modifying CTEs; on SQLite in the order given); for each
        index in ``returning``, that statement's ``RETURNING`` rows. Their parameter names must
        not clash."""
        if self.dialect.postgres and len(statements) > 1:
            if len(returning) == 1:  # plain rows, as the statement returns them
                ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
                params = {k: v for _, p in statements for k, v in p.items()}
                return [await self.fetch(f"WITH {ctes} SELECT * FROM w{returning[0]}", **params)]
            query, params = _with_ctes(None, statements, returning)
            return _split_rows(await self.fetch(query, **params), len(returning))
        if self.dialect.postgres:
            sql, params = statements[0]
            rows = await self.fetch(sql, **params)
            return [rows if i == 0 else [] for i in returning]
        results = await self._in_sqlite_thread(
            [self.dialect.bind(sql, params) for sql, params in statements]
        )
        return [results[i] for i in returning]


def insert_sql(
    dialect: Dialect,
    table: type[Table],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
    prefix: str = "r",
    only_if: str = "",
) -> Statement:
    """One ``INSERT`` of many rows (``suffix`` may add ``ON CONFLICT``/``RETURNING``).

    On PostgreSQL the rows travel as one array per column (``unnest``), so the statement text
    is the same for any number of rows and is prepared once per connection; there ``only_if``
    may make the rows depend on a condition (see ``write_if_held``)."""
    names = ", ".join(f'"{c}"' for c in columns)
    into = f'INSERT INTO "{table._meta.tablename}" ({names})'
    if dialect.postgres:
        types = _column_types(table)
        arrays = ", ".join(f":{prefix}{i}::{types[c]}[]" for i, c in enumerate(columns))
        by_column = {
            f"{prefix}{i}": list(values) for i, values in enumerate(zip(*rows, strict=True))
        }
        where = f"WHERE {only_if}" if only_if else ""
        return f"{into} SELECT * FROM unnest({arrays}) {where} {suffix}", by_column
    values = rows_sql(columns, len(rows), prefix)
    return f"{into} VALUES {values} {suffix}", rows_params(columns, rows, prefix)


def _with_ctes(
    held: Statement | None,
    statements: Sequence[Statement],
    returning: Sequence[int],
    current: Statement | None = None,
) -> tuple[str, dict[str, Any]]:
    """One statement running ``statements`` as data-modifying CTEs (``held`` first, named so),
    selecting the ``RETURNING`` rows of ``held`` (as ``w = -1``), of ``current`` (as ``w = -2``)
    and of each index in ``returning`` (as ``w = n``, its position there) as JSON text."""
    parts = [f"held AS ({held[0]})"] if held else []
    parts += [f"current_row AS ({current[0]})"] if current else []
    parts += [f"w{i} AS ({sql})" for i, (sql, _) in enumerate(statements)]
    first = ([held] if held else []) + ([current] if current else [])
    params = {k: v for _, p in first + list(statements) for k, v in p.items()}
    selects = ["SELECT -1 AS w, row_to_json(held)::text AS r FROM held"] if held else []
    if current:
        selects.append("SELECT -2 AS w, row_to_json(current_row)::text AS r FROM current_row")
    selects += [
        f"SELECT {n} AS w, row_to_json(w{i})::text AS r FROM w{i}" for n, i in enumerate(returning)
    ]
    tail = " UNION ALL ".join(selects) or "SELECT 1 AS w, NULL AS r WHERE FALSE"
    return f"WITH {', '.join(parts)} {tail}", params


def _split_rows(rows: list[dict[str, Any]], count: int) -> list[list[dict[str, Any]]]:
    results: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for row in rows:
        if row["w"] >= 0:
            results[row["w"]].append(_decode_row(row["r"]))
    return results
