"""Indexes and backfill for the bid engine: events are unique per (auction, seq), idempotency
keys per bidder; existing auctions get their leader, last bid time and event numbers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T10:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "bid engine indexes and backfill"

INDEXES = {
    "auction_event_seq": "CREATE UNIQUE INDEX auction_event_seq ON auction_event (auction, seq)",
    "bid_request_key": 'CREATE UNIQUE INDEX bid_request_key ON bid_request (bidder, "key")',
}

BACKFILL = [
    # a bid's event number: its place in its auction's acceptance order
    """UPDATE bid SET seq = (
        SELECT count(*) FROM bid AS earlier
        WHERE earlier.auction = bid.auction
          AND (earlier.bid_time < bid.bid_time
               OR (earlier.bid_time = bid.bid_time AND earlier.id <= bid.id)))""",
    "UPDATE auction SET seq = bid_count",
    """UPDATE auction SET
        leader = (SELECT bidder FROM bid WHERE bid.auction = auction.id AND bid.is_winning),
        last_bid_time = (SELECT max(bid_time) FROM bid WHERE bid.auction = auction.id)""",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def create_indexes_and_backfill() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in [*INDEXES.values(), *BACKFILL]:
            await engine.run_ddl(statement)

    async def drop_indexes() -> None:
        engine = engine_finder()
        assert engine is not None
        for name in INDEXES:
            await engine.run_ddl(f"DROP INDEX {name}")

    manager.add_raw(create_indexes_and_backfill)
    manager.add_raw_backwards(drop_indexes)
    return manager
