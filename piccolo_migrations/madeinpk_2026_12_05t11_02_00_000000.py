"""Buy It Now (docs/auction-rules.md, "Buy It Now"): the seller's optional ``buy_now_price``, and
whether an ended auction was bought with it (``bought_now``). Both have defaults, so existing
rows stay valid and behave as before."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Numeric
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T11:02:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "auction.buy_now_price and auction.bought_now (Buy It Now)"

_PARAMS = {
    "primary_key": False,
    "unique": False,
    "index": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Auction",
        tablename="auction",
        column_name="buy_now_price",
        db_column_name="buy_now_price",
        column_class_name="Numeric",
        column_class=Numeric,
        params={"default": None, "digits": (10, 2), "null": True, **_PARAMS},
        schema=None,
    )
    manager.add_column(
        table_class_name="Auction",
        tablename="auction",
        column_name="bought_now",
        db_column_name="bought_now",
        column_class_name="Boolean",
        column_class=Boolean,
        params={"default": False, "null": False, **_PARAMS},
        schema=None,
    )
    return manager
