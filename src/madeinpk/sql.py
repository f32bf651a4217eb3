"""Raw SQL where the query builder costs too much (the bid path) or cannot say it: one way to
write it, with parameters bound by name, run on the current transaction's own connection.

``:name`` becomes ``$n`` on PostgreSQL and ``?`` on SQLite; a list bound to a name used as
``IN (:name)`` is spread into one placeholder per item on SQLite and passed as an array (write
``= ANY(:name)``) on PostgreSQL, so such statements are written per engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def bind(sql: str, params: Mapping[str, Any], postgres: bool) -> tuple[str, list[Any]]:
    args: list[Any] = []
    numbers: dict[str, int] = {}

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        value = params[name]
        if postgres:
            if name not in numbers:
                args.append(value)
                numbers[name] = len(args)
            return f"${numbers[name]}"
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


class Connection:
    """The connection of the transaction in progress, spoken to in one SQL style."""

    def __init__(self, engine: Engine, transaction: Any) -> None:
        self.postgres = isinstance(engine, PostgresEngine)
        self._raw = transaction.connection

    async def fetch(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        text, args = bind(sql, params, self.postgres)
        if self.postgres:
            return [dict(r) for r in await self._raw.fetch(text, *args)]
        cursor = await self._raw.execute(text, args)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def execute(self, sql: str, **params: Any) -> None:
        text, args = bind(sql, params, self.postgres)
        if self.postgres:
            await self._raw.execute(text, *args)
        else:
            await (await self._raw.execute(text, args)).close()

    async def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
        **params: Any,
    ) -> list[dict[str, Any]]:
        """One ``INSERT`` of many rows; ``suffix`` may add ``ON CONFLICT``/``RETURNING``."""
        if not rows:
            return []
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table}" ({names}) VALUES {rows_sql(columns, len(rows))} {suffix}'
        return await self.fetch(sql, **rows_params(columns, rows), **params)
