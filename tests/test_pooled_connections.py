"""Pooled PostgreSQL connections go back without asyncpg's reset round trip, and still clean:
an open transaction is rolled back on release."""

from __future__ import annotations

import asyncpg
import pytest

from madeinpk.pg_engine import PooledConnection

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
