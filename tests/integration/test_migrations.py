"""Migrations apply forwards on an empty database, on both engines, and re-running is a no-op."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from madeinpk.db.database import ALL_TABLES
from tests.integration.conftest import _pg_execute, migrate, with_database

EXPECTED_INDEXES = {
    "bid_one_winner",
    "bid_auction_time",
    "auction_status_end",
    "notification_user_time",
    "watch_user_auction",
}
# ``?search=`` on PostgreSQL (with the pg_trgm extension); SQLite has none of them.
POSTGRES_SEARCH_INDEXES = {
    "product_search_document",
    "product_name_trgm",
    "product_description_trgm",
}


@pytest.mark.sqlite_only  # needs no server: the PostgreSQL pass would only repeat it
def test_sqlite_forwards_on_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": "",
        "DEBUG": "1",
    }
    first = migrate(env)
    assert first.returncode == 0, first.stdout + first.stderr
    with sqlite3.connect(tmp_path / "fresh.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {t._meta.tablename for t in ALL_TABLES} <= tables
    assert EXPECTED_INDEXES <= indexes
    again = migrate(env)
    assert again.returncode == 0
    assert "No migrations need to be run" in again.stdout or "already complete" in again.stdout


@pytest.mark.postgres_only
def test_postgres_forwards_on_empty_database() -> None:
    base = os.environ["DATABASE_URL"]
    name = f"madeinpk_migrate_{uuid.uuid4().hex[:8]}"
    admin = with_database(base, "postgres")
    asyncio.run(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        url = with_database(base, name)
        result = migrate({"DATABASE_URL": url, "SECRET_KEY": "s" * 20})
        assert result.returncode == 0, result.stdout + result.stderr

        async def inspect() -> tuple[set[str], set[str]]:
            connection = await asyncpg.connect(url)
            try:
                tables = {r[0] for r in await connection.fetch("SELECT tablename FROM pg_tables")}
                indexes = {r[0] for r in await connection.fetch("SELECT indexname FROM pg_indexes")}
            finally:
                await connection.close()
            return tables, indexes

        tables, indexes = asyncio.run(inspect())
        assert {t._meta.tablename for t in ALL_TABLES} <= tables
        assert EXPECTED_INDEXES | POSTGRES_SEARCH_INDEXES <= indexes
    finally:
        asyncio.run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_one_winning_bid_per_auction_is_a_database_rule(live_server: object) -> None:
    """The database refuses a second winning bid whatever the code does (SQLite: a partial
    unique index; PostgreSQL: an exclusion constraint checked at commit)."""
    from piccolo.testing.model_builder import ModelBuilder

    from madeinpk.auctions.tables import Bid
    from madeinpk.db.database import is_unique_violation
    from tests.integration.factories import make_user  # noqa: F401

    first = await ModelBuilder.build(Bid, defaults={Bid.is_winning: True})
    with pytest.raises(Exception) as error:
        await ModelBuilder.build(Bid, defaults={Bid.is_winning: True, Bid.auction: first.auction})
    assert is_unique_violation(error.value) or isinstance(
        error.value, asyncpg.ExclusionViolationError
    )
    await ModelBuilder.build(Bid, defaults={Bid.is_winning: False, Bid.auction: first.auction})
