"""Indexes the hot paths need, which Piccolo columns cannot declare: composite ones, and the
partial unique index that lets the database itself refuse a second winning bid."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "hot-path indexes"

INDEXES = {
    # latest bids of an auction, newest first; and its bid count
    "bid_auction_time": "CREATE INDEX bid_auction_time ON bid (auction, bid_time DESC, id DESC)",
    # at most one winning bid per auction (PostgreSQL and SQLite both have partial indexes)
    "bid_one_winner": "CREATE UNIQUE INDEX bid_one_winner ON bid (auction) WHERE is_winning",
    # the ending sweep: active auctions past their end time
    "auction_status_end": "CREATE INDEX auction_status_end ON auction (status, end_time)",
    # a user's notifications, newest first
    "notification_user_time": (
        'CREATE INDEX notification_user_time ON notification ("user", created_at DESC, id DESC)'
    ),
    # the payment-deadline sweep
    "order_status_deadline": (
        "CREATE INDEX order_status_deadline ON auction_order (status, payment_deadline)"
    ),
    # emails are unique whatever their case (the contract's rule), closing the sign-up race
    "piccolo_user_email_lower": "CREATE UNIQUE INDEX piccolo_user_email_lower ON piccolo_user (lower(email))",
    "city_province_name": "CREATE UNIQUE INDEX city_province_name ON city (province, name)",
    # undelivered mail
    "outbox_unsent": "CREATE INDEX outbox_unsent ON outbox_email (created_at) WHERE sent_at IS NULL",
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
