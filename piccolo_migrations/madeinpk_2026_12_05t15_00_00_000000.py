"""Search worth the name (PostgreSQL): the indexes ``?search=`` is answered from.

- ``pg_trgm`` (shipped with PostgreSQL, a trusted extension since 13: the database's owner may
  create it);
- ``product_search_document``: GIN over the product's text-search document (name weight A,
  description weight C, configuration ``simple``), the very expression
  ``madeinpk.catalog.search`` matches with ``@@``;
- ``product_name_trgm``, ``product_description_trgm``: trigram GIN indexes, which answer the
  misspelling match (``<<%``, name) and the substring match (``ILIKE '%…%'``, both).

The category's name needs none: the category table is a few dozen rows. SQLite keeps its LIKE
search and gets nothing. Backwards drops the indexes and leaves the extension (something else
may use it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "search: pg_trgm, text-search and trigram indexes on products (PostgreSQL)"

DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, name), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, description), 'C')"
)
INDEXES = {
    "product_search_document": f"product USING gin (({DOCUMENT}))",
    "product_name_trgm": "product USING gin (name gin_trgm_ops)",
    "product_description_trgm": "product USING gin (description gin_trgm_ops)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for name, definition in INDEXES.items():
                await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")

    async def drop() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            for name in INDEXES:
                await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
