"""Query-string parsing, each spelling the REST contract promises written once.

Two id styles exist because the contract has two: list filters backed by django-filter
(``parse_id_filter``: digits only, bounded by ``MAX_ID``) and the feedback endpoints' integer
fields (``parse_int``/``require_int``: Python's ``int()``, range checked by the caller).
"""

from __future__ import annotations

from madeinpk.db.database import MAX_ID
from madeinpk.http.errors import REQUIRED, field_error

INVALID_INTEGER = "A valid integer is required."
INVALID_BOOLEAN = "Must be a valid boolean."
# django-filter's BooleanWidget spellings, case-insensitive.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def parse_id_filter(name: str, value: str) -> int:
    """A row id in a list filter: ASCII digits, at most ``MAX_ID``, else a 400 on ``name``."""
    if not (value.isascii() and value.isdigit()):
        raise field_error(name, INVALID_INTEGER)
    # Length first: ``int()`` refuses strings past 4300 digits (zeros too) with a ValueError.
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        raise field_error(name, f"Ensure this value is less than or equal to {MAX_ID}.")
    return int(digits)


def optional_id_filter(name: str, value: str | None) -> int | None:
    """``parse_id_filter``, with an absent or empty value meaning "no filter"."""
    return parse_id_filter(name, value) if value else None


def parse_int(name: str, raw: str | None) -> int | None:
    """An optional integer: None when absent or blank, else ``int()`` of it or a 400 on ``name``."""
    value = (raw or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise field_error(name, INVALID_INTEGER) from None


def require_int(name: str, raw: str | None) -> int:
    """``parse_int``, with an absent value a 400 "This field is required." on ``name``."""
    value = parse_int(name, raw)
    if value is None:
        raise field_error(name, REQUIRED)
    return value


def is_valid_id(row_id: int) -> bool:
    """Whether an id can name a row: serial keys are 32-bit and start at 1."""
    return 1 <= row_id <= MAX_ID


def parse_boolean_filter(name: str, value: str | None) -> bool | None:
    """A django-filter boolean: None when absent or empty, a 400 on ``name`` when unreadable."""
    if not value:
        return None
    parsed = _BOOLEANS.get(value.lower())
    if parsed is None:
        raise field_error(name, INVALID_BOOLEAN)
    return parsed


def is_true_flag(value: str | None) -> bool:
    """A lenient switch: ``true`` or ``1`` (any case) turns it on, anything else leaves it off."""
    return value is not None and value.lower() in ("true", "1")
