"""Scheduled starts: an auction whose start time is ahead waits ``scheduled`` until its start
task (or the sweep, or a bid) opens it with ``auction_started``. Listings already waiting when
this runs become ``scheduled`` too, so they open the same way (the sweep finds them: no task was
scheduled for them); the index is the start sweep's, as ``auction_status_end`` is the ending's.
Backwards, waiting auctions go back to ``active`` with a start ahead, as they were."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scheduled auctions: status scheduled and the start sweep's index"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def schedule() -> None:
        engine = engine_finder()
        assert engine is not None
        now = "statement_timestamp()" if isinstance(engine, PostgresEngine) else "datetime('now')"
        await engine.run_ddl("CREATE INDEX auction_status_start ON auction (status, start_time)")
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(
                "UPDATE auction SET status = 'scheduled' "
                f"WHERE status = 'active' AND start_time > {now}"
            )
        else:  # SQLite keeps Piccolo's timestamps as ISO text: compare as Julian days
            await engine.run_ddl(
                "UPDATE auction SET status = 'scheduled' "
                f"WHERE status = 'active' AND julianday(start_time) > julianday({now})"
            )

    async def unschedule() -> None:
        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("UPDATE auction SET status = 'active' WHERE status = 'scheduled'")
        await engine.run_ddl("DROP INDEX auction_status_start")

    manager.add_raw(schedule)
    manager.add_raw_backwards(unschedule)
    return manager
