"""Watchlist and reminders: ``watch`` (a user's watched auctions, unique per user and auction)
and ``ending_reminder`` (one row per auction whose ending-soon reminders went out); the
next migration adds their composite index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-05T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "watchlist and ending-soon reminders"


class Auction(Table, tablename="auction", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class BaseUser(Table, tablename="piccolo_user", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


def _params(**overrides: object) -> dict[str, object]:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **overrides,
    }


def _foreign_key(references: type[Table], **overrides: object) -> dict[str, object]:
    return _params(
        references=references,
        on_delete=OnDelete.cascade,
        on_update=OnUpdate.cascade,
        target_column=None,
        **overrides,
    )


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)
    manager.add_table(class_name="Watch", tablename="watch", schema=None, columns=None)
    manager.add_table(
        class_name="EndingReminder", tablename="ending_reminder", schema=None, columns=None
    )
    columns = [
        ("Watch", "watch", "user", ForeignKey, _foreign_key(BaseUser)),
        # An id, not a foreign key: checking one would lock the auction row (tables.Watch).
        ("Watch", "watch", "auction", Integer, _params(default=0, index=True)),
        ("Watch", "watch", "created_at", Timestamptz, _params(default=TimestamptzNow())),
        (
            "EndingReminder",
            "ending_reminder",
            "auction",
            ForeignKey,
            _foreign_key(Auction, unique=True),
        ),
        (
            "EndingReminder",
            "ending_reminder",
            "sent_at",
            Timestamptz,
            _params(default=TimestamptzNow()),
        ),
    ]
    for class_name, tablename, column, column_class, params in columns:
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name=column,
            db_column_name=column,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )

    return manager
