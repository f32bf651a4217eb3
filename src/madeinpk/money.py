"""Money: ``Decimal`` in code, 2-dp strings on the wire, never a float.

SQLite hands ``Numeric`` columns back through a float, so every value read from the database is
quantised here before it is shown or compared.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")  # Numeric(10, 2)


class InvalidAmount(ValueError):
    """A money input that is not a positive amount of at most 10 digits and 2 decimals."""


def to_money(value: Decimal | float | int | str) -> Decimal:
    """A stored value as an exact 2-dp Decimal (floats go through their shortest repr)."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def stored_money(value: Decimal | float | int | str | None) -> Decimal | None:
    """A nullable stored amount (a reserve, a step, a maximum) as ``to_money`` reads it."""
    return to_money(value) if value is not None else None


def format_money(value: Decimal | float | int | str) -> str:
    return f"{to_money(value):.2f}"


def parse_amount(raw: object) -> Decimal:
    """Parse client input (a JSON number or numeric string) without ever rounding it.

    Strings must be plain ASCII: ``Decimal`` alone also reads other scripts' digits ("٤٠٠٠")
    and digit separators ("4_000"), which no client means as an amount.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise InvalidAmount("A valid number is required.")
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if not text.isascii() or "_" in text:
        raise InvalidAmount("A valid number is required.")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidAmount("A valid number is required.") from None
    if not number.is_finite():
        raise InvalidAmount("A valid number is required.")
    if number <= 0:
        raise InvalidAmount("Ensure this value is greater than 0.")
    # Size first: quantizing an enormous number raises instead of answering.
    if number >= MAX_AMOUNT + CENT:
        raise InvalidAmount("Ensure that there are no more than 10 digits in total.")
    if number != number.quantize(CENT):
        raise InvalidAmount("Ensure that there are no more than 2 decimal places.")
    return number.quantize(CENT)


class Amount(Decimal):
    """Money in a request body, as the contract takes it: a JSON number or a numeric string,
    read by ``parse_amount`` (msgspec cannot bound a ``Decimal``), so a refusal is in DRF's
    words. Arithmetic on it gives plain ``Decimal``s; take ``Decimal(amount)`` before a
    database driver sees it (they bind exact types only)."""

    @classmethod
    def from_input(cls, raw: object) -> Amount:
        return cls(parse_amount(raw))


# What ``parse_amount`` accepts, as JSON Schema (a request field's ``extra_json_schema``).
AMOUNT_SCHEMA = {
    "type": ["number", "string"],
    "exclusiveMinimum": 0,
    "maximum": float(MAX_AMOUNT),
    "multipleOf": float(CENT),
    "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$",
}
