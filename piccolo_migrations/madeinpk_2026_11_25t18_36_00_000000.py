"""Backfill ``auction.bid_count`` for auctions that had bids before the column existed.

A migration of its own: Piccolo runs a migration's raw steps before its column changes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T18:36:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backfill auction.bid_count"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def count_existing_bids() -> None:
        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "UPDATE auction SET bid_count = (SELECT count(*) FROM bid WHERE bid.auction = auction.id)"
        )

    manager.add_raw(count_existing_bids)
    return manager
