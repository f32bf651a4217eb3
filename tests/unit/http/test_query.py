"""Query-string parsing (madeinpk.http.query): each spelling the REST contract promises."""

from __future__ import annotations

import pytest

from madeinpk.db.database import MAX_ID
from madeinpk.http.errors import FieldErrors
from madeinpk.http.query import (
    is_true_flag,
    is_valid_id,
    optional_id_filter,
    parse_boolean_filter,
    parse_id_filter,
    parse_int,
    require_int,
)


def _error(call: object, *args: object) -> dict[str, list[str]]:
    with pytest.raises(FieldErrors) as error:
        call(*args)  # type: ignore[operator]
    return error.value.body


def test_id_filter() -> None:
    assert parse_id_filter("seller", "42") == 42
    assert parse_id_filter("seller", str(MAX_ID)) == MAX_ID
    for bad in ("-1", "+1", " 1", "1.0", "x", "٤", ""):
        assert _error(parse_id_filter, "seller", bad) == {
            "seller": ["A valid integer is required."]
        }
    for too_big in (str(MAX_ID + 1), "9" * 4400):  # past 4300 digits int() itself refuses
        assert _error(parse_id_filter, "category", too_big) == {
            "category": [f"Ensure this value is less than or equal to {MAX_ID}."]
        }
    assert parse_id_filter("seller", "0" * 5000 + "42") == 42


def test_optional_id_filter() -> None:
    assert optional_id_filter("seller", None) is None
    assert optional_id_filter("seller", "") is None
    assert optional_id_filter("seller", "7") == 7


def test_int_fields_read_as_python_does() -> None:
    assert parse_int("seller", None) is None
    assert parse_int("seller", "  ") is None
    assert parse_int("seller", " 12 ") == 12
    assert parse_int("seller", "-3") == -3
    assert _error(parse_int, "seller", "1.5") == {"seller": ["A valid integer is required."]}
    assert require_int("seller_id", "5") == 5
    assert _error(require_int, "seller_id", None) == {"seller_id": ["This field is required."]}
    assert _error(require_int, "seller_id", "") == {"seller_id": ["This field is required."]}


def test_valid_ids() -> None:
    assert is_valid_id(1) and is_valid_id(MAX_ID)
    assert not is_valid_id(0) and not is_valid_id(-1) and not is_valid_id(MAX_ID + 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (None, None),
        ("", None),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("0", False),
    ],
)
def test_boolean_filter(raw: str | None, value: bool | None) -> None:
    assert parse_boolean_filter("is_read", raw) is value


@pytest.mark.parametrize("raw", ["yes", "no", "2", "on", " true"])
def test_boolean_filter_refuses_other_spellings(raw: str) -> None:
    assert _error(parse_boolean_filter, "is_read", raw) == {"is_read": ["Must be a valid boolean."]}


@pytest.mark.parametrize(
    ("raw", "on"),
    [
        (None, False),
        ("", False),
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", False),
        ("0", False),
        ("false", False),
    ],
)
def test_true_flag_is_lenient(raw: str | None, on: bool) -> None:
    assert is_true_flag(raw) is on
