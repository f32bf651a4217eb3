"""What the steps of one seed call share: its state (``Run``), the error a clash raises, and
putting a table's id sequence past the demo data's fixed ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from piccolo.table import Table

from madeinpk.db.sql import dialect, raw
from madeinpk.settings import Settings


class SeedError(RuntimeError):
    """The database holds rows that clash with the demo data's fixed ids."""


@dataclass
class Run:
    """State shared by the steps of one seed call."""

    settings: Settings
    now: datetime
    users: dict[str, int] = field(default_factory=dict)  # username -> user id
    written: list[Path] = field(default_factory=list)  # image files created by this call
    created: bool = False

    def mark(self, created: bool | None) -> None:
        self.created = self.created or bool(created)


async def sync_sequence(table: type[Table]) -> None:
    """PostgreSQL's serial sequence does not see explicit ids; move it past them."""
    if not dialect(table._meta.db).postgres:
        return
    name = table._meta.tablename
    await raw(
        table,
        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))",
    )
