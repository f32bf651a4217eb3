"""Pooled PostgreSQL connections go back without asyncpg's reset round trip, and still clean:
an open transaction is rolled back on release; a new one has looked up the array types our
statements bind before it serves one."""

from __future__ import annotations

import asyncpg
import pytest

from madeinpk.db.database import ALL_TABLES
from madeinpk.db.engines import array_types, load_array_codecs
from madeinpk.db.pg_engine import PooledConnection
from madeinpk.db.sql import POSTGRES, insert_sql

pytestmark = pytest.mark.postgres_only


async def test_a_released_connection_is_clean_without_a_reset_query(
    test_env: dict[str, str],
) -> None:
    pool = await asyncpg.create_pool(
        test_env["DATABASE_URL"], min_size=1, max_size=1, connection_class=PooledConnection
    )
    try:
        async with pool.acquire() as connection:
            assert connection.get_reset_query() == ""
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMP TABLE left_open (n int)")
            pid = connection.get_server_pid()
        async with pool.acquire() as connection:  # the same connection: the pool holds one
            assert connection.get_server_pid() == pid
            assert not connection.is_in_transaction()
            missing = await connection.fetchval("SELECT to_regclass('pg_temp.left_open')")
            assert missing is None  # the transaction that created it was rolled back
    finally:
        await pool.close()


async def _type_lookups(pool: asyncpg.Pool) -> list[str]:
    """Prepare a multi-row INSERT of every table (the rows travel as arrays, as on the bid
    path) on a newly opened pooled connection; the catalog lookups asyncpg ran for them."""
    async with pool.acquire() as connection:
        logged: list[str] = []
        connection.add_query_logger(lambda record: logged.append(record.query))
        for table in ALL_TABLES:
            columns = [
                c._meta.db_column_name for c in table._meta.columns if not c._meta.primary_key
            ]
            sql, params = insert_sql(POSTGRES, table, columns, [tuple(None for _ in columns)])
            await connection.prepare(POSTGRES.bind(sql, params)[0])
    return [query for query in logged if "typeinfo_tree" in query]


async def test_a_new_connection_has_looked_up_every_array_type_it_will_bind(
    test_env: dict[str, str],
) -> None:
    """asyncpg looks up an array type it has no codec for on first use, per connection: with
    ``load_array_codecs`` as the pool's ``init`` that happened when the connection opened, not
    in the middle of a connection's first bid."""
    url = test_env["DATABASE_URL"]
    plain = await asyncpg.create_pool(url, min_size=0, max_size=1)
    loaded = await asyncpg.create_pool(url, min_size=0, max_size=1, init=load_array_codecs)
    try:
        assert await _type_lookups(plain)  # the lookups this saves happen without it
        assert await _type_lookups(loaded) == []
    finally:
        await plain.close()
        await loaded.close()


def test_array_types_are_by_base_type() -> None:
    """``NUMERIC(10, 2)`` and ``VARCHAR(255)`` bind as ``NUMERIC[]`` and ``VARCHAR[]``; a serial
    id as ``INTEGER[]`` (there is no ``SERIAL[]``)."""
    types = array_types()
    assert {"NUMERIC[]", "VARCHAR[]", "INTEGER[]", "TIMESTAMPTZ[]"} <= set(types)
    assert not [t for t in types if "(" in t or "SERIAL" in t]
