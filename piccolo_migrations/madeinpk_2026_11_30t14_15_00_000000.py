"""PostgreSQL checks "one winning bid per auction" at commit instead of after each statement,
so a batch of bids can unflag the old winner and insert the new one in the same round trip
(data-modifying CTEs do not see each other's rows). A deferrable constraint has to be an
exclusion constraint: unique indexes cannot be deferred. SQLite keeps its partial unique index
(its bid path writes statement by statement)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-11-30T14:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one winning bid per auction, checked at commit (PostgreSQL)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def deferred() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("DROP INDEX IF EXISTS bid_one_winner")
            await engine.run_ddl(
                "ALTER TABLE bid ADD CONSTRAINT bid_one_winner "
                "EXCLUDE USING btree (auction WITH =) WHERE (is_winning) "
                "DEFERRABLE INITIALLY DEFERRED"
            )

    async def immediate() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("ALTER TABLE bid DROP CONSTRAINT bid_one_winner")
            await engine.run_ddl(
                "CREATE UNIQUE INDEX bid_one_winner ON bid (auction) WHERE is_winning"
            )

    manager.add_raw(deferred)
    manager.add_raw_backwards(immediate)
    return manager
