"""The Piccolo app that owns every MadeInPK table and the project's migrations."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

TABLE_MODULES = [
    "madeinpk.accounts.tables",
    "madeinpk.catalog.tables",
    "madeinpk.auctions.tables",
    "madeinpk.orders.tables",
    "madeinpk.notifications.tables",
]

MIGRATIONS_FOLDER = Path(__file__).resolve().parents[3] / "piccolo_migrations"

APP_CONFIG = AppConfig(
    app_name="madeinpk",
    migrations_folder_path=MIGRATIONS_FOLDER,
    table_classes=table_finder(modules=TABLE_MODULES, exclude_imported=True),
    migration_dependencies=["piccolo.apps.user.piccolo_app"],
    commands=[],
)
