"""Removing a bid (docs/auction-rules.md § 10): the ceilings each bid is replayed with
(``max_amount``, ``raised_max``) and the flags of a removed bid (``removed_at``, ``removed_by``,
``removed_with``). All nullable: existing bids stay valid (never removed, no ceiling on record)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.user.tables import BaseUser
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Numeric, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "bid removal: bid.max_amount, raised_max, removed_at, removed_by, removed_with"


def _params(**extra: object) -> dict[str, object]:
    return {
        "default": None,
        "null": True,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)
    for name in ("max_amount", "raised_max"):
        manager.add_column(
            table_class_name="Bid",
            tablename="bid",
            column_name=name,
            db_column_name=name,
            column_class_name="Numeric",
            column_class=Numeric,
            params=_params(digits=(10, 2)),
            schema=None,
        )
    manager.add_column(
        table_class_name="Bid",
        tablename="bid",
        column_name="removed_at",
        db_column_name="removed_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(),
        schema=None,
    )
    manager.add_column(
        table_class_name="Bid",
        tablename="bid",
        column_name="removed_by",
        db_column_name="removed_by",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params=_params(
            references=BaseUser,
            on_delete=OnDelete.set_null,
            on_update=OnUpdate.cascade,
            target_column=None,
        ),
        schema=None,
    )
    manager.add_column(
        table_class_name="Bid",
        tablename="bid",
        column_name="removed_with",
        db_column_name="removed_with",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(),
        schema=None,
    )
    return manager
