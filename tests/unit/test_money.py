"""Money parsing and formatting (madeinpk.money): exact, 2 decimals, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from madeinpk.money import CENT, MAX_AMOUNT, InvalidAmount, format_money, parse_amount, to_money


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (Decimal("2875"), "2875.00"),
        (Decimal("0.005"), "0.01"),  # half up
        (Decimal("0.004"), "0.00"),
        (2875.1, "2875.10"),  # SQLite's floats go through their shortest repr
        (0.1 + 0.2, "0.30"),
        (3, "3.00"),
        ("125.5", "125.50"),
        (Decimal("99999999.99"), "99999999.99"),
    ],
)
def test_format_money(stored: Decimal | float | int | str, shown: str) -> None:
    assert format_money(stored) == shown
    assert to_money(stored) == Decimal(shown)
    assert to_money(stored).as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (3000, Decimal("3000.00")),
        ("3000", Decimal("3000.00")),
        (" 3000.5 ", Decimal("3000.50")),
        (3000.25, Decimal("3000.25")),
        (Decimal("0.01"), CENT),
        ("99999999.99", MAX_AMOUNT),
        ("1e3", Decimal("1000.00")),
    ],
)
def test_parse_amount_reads_exactly(raw: object, amount: Decimal) -> None:
    parsed = parse_amount(raw)
    assert parsed == amount and parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (True, "A valid number is required."),
        (None, "A valid number is required."),
        ([1], "A valid number is required."),
        ("", "A valid number is required."),
        ("abc", "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("Infinity", "A valid number is required."),
        ("4_000", "A valid number is required."),
        ("٤٠٠٠", "A valid number is required."),
        (0, "Ensure this value is greater than 0."),
        ("-1", "Ensure this value is greater than 0."),
        ("100000000", "Ensure that there are no more than 10 digits in total."),
        ("1e400", "Ensure that there are no more than 10 digits in total."),
        ("10.001", "Ensure that there are no more than 2 decimal places."),
        (0.1 + 0.2, "Ensure that there are no more than 2 decimal places."),
    ],
)
def test_parse_amount_refuses(raw: object, message: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        parse_amount(raw)
    assert str(refused.value) == message
