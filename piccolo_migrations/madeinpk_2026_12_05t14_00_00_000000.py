"""Second-chance offers and relisting (docs/auction-rules.md § Second-chance offer, § Relist).

- ``second_chance_offer``: the seller's offer of a missed order's item to the next bidder.
- An auction may be run again for the same product (a new row per run, ``relisted_from`` naming
  the run before it): ``auction.product`` is no longer unique. What stays a database rule is one
  *open* run per product (a partial unique index) and one successor per run.
- An order of a run may be followed by a second-chance order of the same run:
  ``auction_order.auction`` is no longer unique either.
- ``auction.auto_relist``: how many more times an unsold run is relisted by itself (0-3).

SQLite cannot drop a column's UNIQUE, so both tables are rebuilt there the way SQLite documents
it (foreign keys off, copy, drop, rename), on one connection outside Piccolo's transaction.
"""

from __future__ import annotations

import re
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "second-chance offers; relisting (auction.product not unique, auto_relist)"

NOT_UNIQUE = (("auction", "product"), ("auction_order", "auction"))

_OFFER_POSTGRES = """
CREATE TABLE IF NOT EXISTS second_chance_offer (
    id SERIAL PRIMARY KEY,
    "order" INTEGER NOT NULL UNIQUE REFERENCES auction_order (id) ON DELETE CASCADE,
    auction INTEGER REFERENCES auction (id) ON DELETE SET NULL,
    bidder INTEGER NOT NULL REFERENCES piccolo_user (id) ON DELETE CASCADE,
    seller INTEGER NOT NULL REFERENCES piccolo_user (id) ON DELETE CASCADE,
    amount NUMERIC(10, 2) NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending',
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ DEFAULT NULL,
    new_order INTEGER REFERENCES auction_order (id) ON DELETE SET NULL
)
"""
_OFFER_SQLITE = """
CREATE TABLE IF NOT EXISTS "second_chance_offer" (
    "id" INTEGER PRIMARY KEY NOT NULL,
    "order" INTEGER NOT NULL UNIQUE REFERENCES "auction_order" ("id") ON DELETE CASCADE,
    "auction" INTEGER REFERENCES "auction" ("id") ON DELETE SET NULL DEFAULT null,
    "bidder" INTEGER NOT NULL REFERENCES "piccolo_user" ("id") ON DELETE CASCADE,
    "seller" INTEGER NOT NULL REFERENCES "piccolo_user" ("id") ON DELETE CASCADE,
    "amount" NUMERIC(10, 2) NOT NULL DEFAULT 0,
    "status" VARCHAR(10) NOT NULL DEFAULT 'pending',
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "decided_at" TIMESTAMPTZ DEFAULT null,
    "new_order" INTEGER REFERENCES "auction_order" ("id") ON DELETE SET NULL DEFAULT null
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS second_chance_offer_bidder ON second_chance_offer (bidder)",
    "CREATE INDEX IF NOT EXISTS second_chance_offer_seller ON second_chance_offer (seller)",
    "CREATE INDEX IF NOT EXISTS second_chance_offer_due "
    "ON second_chance_offer (status, expires_at)",
    "CREATE INDEX IF NOT EXISTS auction_product ON auction (product)",
    "CREATE INDEX IF NOT EXISTS auction_order_auction ON auction_order (auction)",
    # One open run per product, one successor per run.
    "CREATE UNIQUE INDEX IF NOT EXISTS auction_one_open_run ON auction (product) "
    "WHERE status NOT IN ('ended', 'cancelled', 'completed')",
    "CREATE UNIQUE INDEX IF NOT EXISTS auction_relisted_from ON auction (relisted_from)",
)


def _without_unique(create_sql: str, column: str) -> str:
    """The CREATE TABLE statement with ``column``'s UNIQUE taken out."""
    pattern = rf'("{column}" [A-Z]+) UNIQUE'
    changed, count = re.subn(pattern, r"\1", create_sql, count=1)
    if count != 1:
        raise RuntimeError(f"No UNIQUE on {column} in {create_sql!r}")
    return changed


async def _sqlite_rebuild(engine: Any) -> None:
    connection = await engine.get_connection()
    try:
        await connection.execute("PRAGMA foreign_keys = OFF")
        await connection.execute("BEGIN IMMEDIATE")
        try:
            for table, column in NOT_UNIQUE:
                cursor = await connection.execute(
                    "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
                    (table,),
                )
                rows = await cursor.fetchall()
                [create] = [r["sql"] for r in rows if r["type"] == "table"]
                if not re.search(rf'"{column}" [A-Z]+ UNIQUE', create):
                    continue  # already rebuilt
                indexes = [r["sql"] for r in rows if r["type"] == "index"]
                rebuilt = _without_unique(create, column).replace(
                    f'CREATE TABLE "{table}"', f'CREATE TABLE "{table}__rebuilt"', 1
                )
                await connection.execute(rebuilt)
                await connection.execute(f'INSERT INTO "{table}__rebuilt" SELECT * FROM "{table}"')
                await connection.execute(f'DROP TABLE "{table}"')
                await connection.execute(f'ALTER TABLE "{table}__rebuilt" RENAME TO "{table}"')
                for index in indexes:
                    await connection.execute(index)
            cursor = await connection.execute("PRAGMA foreign_key_check")
            if broken := await cursor.fetchall():
                raise RuntimeError(f"Foreign keys broken by the rebuild: {broken}")
            await connection.execute("COMMIT")
        except BaseException:
            await connection.execute("ROLLBACK")
            raise
    finally:
        await connection.close()


async def _columns(engine: Any, table: str) -> set[str]:
    if isinstance(engine, PostgresEngine):
        rows = await engine._run_in_new_connection(
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = $1",
            [table],
        )
    else:
        rows = await engine._run_in_new_connection(f'PRAGMA table_info("{table}")')
    return {r["name"] for r in rows}


async def forwards() -> MigrationManager:
    manager = MigrationManager(
        migration_id=ID,
        app_name="madeinpk",
        description=DESCRIPTION,
        wrap_in_transaction=False,
    )

    async def apply() -> None:
        engine = engine_finder()
        assert engine is not None
        postgres = isinstance(engine, PostgresEngine)
        if postgres:
            await engine.run_ddl(
                "ALTER TABLE auction DROP CONSTRAINT IF EXISTS auction_product_key"
            )
            await engine.run_ddl(
                "ALTER TABLE auction_order DROP CONSTRAINT IF EXISTS auction_order_auction_key"
            )
        else:
            await _sqlite_rebuild(engine)
        columns = await _columns(engine, "auction")
        if "auto_relist" not in columns:
            await engine.run_ddl(
                'ALTER TABLE auction ADD COLUMN "auto_relist" INTEGER NOT NULL DEFAULT 0'
            )
        if "relisted_from" not in columns:
            await engine.run_ddl(
                'ALTER TABLE auction ADD COLUMN "relisted_from" INTEGER DEFAULT NULL '
                'REFERENCES "auction" ("id") ON DELETE SET NULL'
            )
        await engine.run_ddl(_OFFER_POSTGRES if postgres else _OFFER_SQLITE)
        for statement in _INDEXES:
            await engine.run_ddl(statement)

    manager.add_raw(apply)
    return manager
