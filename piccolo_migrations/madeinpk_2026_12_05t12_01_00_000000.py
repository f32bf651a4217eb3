"""Watchlist: one watch per user and auction, a database rule (Piccolo columns cannot declare a
composite index; raw steps run before a migration's tables exist, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-05T12:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "watchlist index"

INDEXES = {
    "watch_user_auction": 'CREATE UNIQUE INDEX watch_user_auction ON watch ("user", auction)',
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in INDEXES.values():
            await engine.run_ddl(statement)

    async def drop_indexes() -> None:
        engine = engine_finder()
        assert engine is not None
        for name in INDEXES:
            await engine.run_ddl(f"DROP INDEX {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
