"""What every domain needs of the database, whichever engine runs it: the tables, the engine
check, transactions for read-then-write work, duplicate-key errors, LIKE patterns. Engines are
built and opened by ``madeinpk.db.engines`` (the assembly's)."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg
from piccolo.apps.user.tables import BaseUser
from piccolo.table import Table
from piccolo_api.session_auth.tables import SessionsBase

from madeinpk.db.piccolo_app import APP_CONFIG
from madeinpk.db.sql import dialect

MAX_ID = 2**31 - 1  # serial primary keys: no row has a larger id

# Piccolo's own tables first (users; the admin panel's sessions), then the project's.
ALL_TABLES: list[type[Table]] = [BaseUser, SessionsBase, *APP_CONFIG.table_classes]


def write_transaction() -> Any:
    """A transaction for read-then-write work on the tables' engine (``Dialect.begin``)."""
    engine = BaseUser._meta.db
    return dialect(engine).write_transaction(engine)


def is_unique_violation(exc: BaseException) -> bool:
    """Both drivers' duplicate-key errors, for races that a pre-check cannot close."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def like_literal(text: str) -> str:
    """``text`` as a LIKE pattern that matches only itself: ``%`` and ``_`` lose their power."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
