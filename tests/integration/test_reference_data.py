"""A fresh production database gets categories, provinces and cities from ``madeinpk migrate``
alone (no demo users, auctions or images), and the demo seed still runs on top of it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from madeinpk.accounts.tables import Province
from madeinpk.catalog.tables import Category
from madeinpk.sample_data import CATEGORIES, PROVINCES, database_is_empty
from tests.integration.conftest import LiveServer, _pg_execute, migrate, with_database
from tests.integration.factories import make_user
from tests.integration.test_sample_data import CATEGORY_NAMES

MIGRATION_ID = "2026-11-30T12:00:00:000000"
DEMO_TABLES = ("piccolo_user", "user_profile", "product", "product_image", "auction", "bid")

Query = Callable[[str], list[tuple[Any, ...]]]


def sqlite_query(path: Path) -> Query:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as db:
            return [tuple(row) for row in db.execute(sql)]

    return query


def postgres_query(url: str) -> Query:
    async def fetch(sql: str) -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    return lambda sql: asyncio.run(fetch(sql))


# Each engine's case runs on its own topology's pass: the SQLite case needs no server, so running
# it again on the PostgreSQL pass would test nothing new.
@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite_only),
        pytest.param("postgres", marks=pytest.mark.postgres_only),
    ]
)
def fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Query]]:
    """An empty database of either engine, the environment to reach it, and a way to query it."""
    media = {"MEDIA_ROOT": str(tmp_path / "media"), "SECRET_KEY": "s" * 20, "REDIS_URL": ""}
    if request.param == "sqlite":
        path = tmp_path / "fresh.sqlite3"
        yield {**media, "DATABASE_URL": f"sqlite:///{path}", "DEBUG": "0"}, sqlite_query(path)
        return
    admin = with_database(os.environ["DATABASE_URL"], "postgres")
    name = f"madeinpk_reference_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        url = with_database(os.environ["DATABASE_URL"], name)
        yield {**media, "DATABASE_URL": url}, postgres_query(url)
    finally:
        asyncio.run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def seed(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madeinpk", "seed"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def reference_rows(query: Query) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    categories = query(
        "SELECT id, name, description FROM category WHERE parent IS NULL ORDER BY id"
    )
    cities = query(
        "SELECT p.name, c.name FROM city c JOIN province p ON p.id = c.province "
        "ORDER BY p.name, c.name"
    )
    return categories, cities


EXPECTED_CITIES = sorted((p, c) for p, cities in PROVINCES.items() for c in cities)


def test_migrate_alone_brings_reference_data_then_the_seed_and_a_rerun_add_nothing(
    fresh_database: tuple[dict[str, str], Query],
) -> None:
    env, query = fresh_database
    result = migrate(env)
    assert result.returncode == 0, result.stdout + result.stderr
    categories, cities = reference_rows(query)
    assert [(i, n) for i, n, _ in categories] == list(enumerate(CATEGORY_NAMES, start=1))
    assert categories == list(CATEGORIES)
    assert cities == EXPECTED_CITIES
    assert query("SELECT count(*) FROM province") == [(len(PROVINCES),)]
    for table in DEMO_TABLES:
        assert query(f"SELECT count(*) FROM {table}") == [(0,)], table
    assert not list(Path(env["MEDIA_ROOT"]).rglob("*.jpg"))

    # The demo seed adds its data on top: no second copy of the reference rows, and its own
    # categories take ids after the fixed ones.
    seeded = seed(env)
    assert seeded.returncode == 0, seeded.stderr
    assert "Sample data created." in seeded.stdout
    assert reference_rows(query) == (categories, cities)
    subcategories = query("SELECT id FROM category WHERE parent IS NOT NULL")
    assert subcategories and min(i for (i,) in subcategories) > 12
    assert query("SELECT count(*) FROM auction") != [(0,)]

    # A database the seed filled before this migration existed: the migration adds nothing
    # and fails not.
    before = reference_rows(query), query("SELECT count(*) FROM category")
    query(f"DELETE FROM migration WHERE name = '{MIGRATION_ID}'")  # as if it never ran
    again = migrate(env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert MIGRATION_ID in again.stdout
    assert (reference_rows(query), query("SELECT count(*) FROM category")) == before


async def test_reference_data_alone_still_counts_as_empty_for_the_demo_seed(
    live_server: LiveServer,
) -> None:
    """``just serve`` seeds a development database holding no more than migrations and
    ``createsuperuser`` bring."""
    await Category.insert(*(Category(id=i, name=n, description=d) for i, n, d in CATEGORIES))
    await Province.insert(*(Province(name=name) for name in PROVINCES))
    await make_user(live_server.settings, staff=True)
    assert await database_is_empty()
    await make_user(live_server.settings)
    assert not await database_is_empty()
