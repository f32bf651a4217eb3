"""Time helpers shared by every domain: the project stores and speaks UTC only."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive input is taken as UTC (the REST contract says so); aware input is converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# DRF's words for a time it cannot read (the formats it names are a subset of what is read).
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def parse_instant(raw: object) -> datetime:
    """A client's time: any ISO-8601 text, surrounding whitespace ignored, a naive one taken as
    UTC (the REST contract); ``ValueError`` in DRF's words otherwise."""
    if not isinstance(raw, str):
        raise ValueError(BAD_DATETIME)
    try:
        return as_utc(datetime.fromisoformat(raw.strip()))
    except (ValueError, OverflowError):  # overflow: an offset that moves year 1 or 9999 out
        raise ValueError(BAD_DATETIME) from None


class Instant(datetime):
    """A time in a request body, read by ``parse_instant`` (msgspec's own ``datetime`` takes
    RFC 3339 only, and numbers as epoch seconds). Take ``plain(instant)`` before a database
    driver sees it (they bind exact types only)."""

    @classmethod
    def from_input(cls, raw: object) -> Instant:
        moment = parse_instant(raw)
        return cls.combine(moment.date(), moment.timetz())


def plain(moment: datetime) -> datetime:
    """The same moment as a ``datetime`` itself, not a subclass such as ``Instant``."""
    return datetime.combine(moment.date(), moment.timetz())


INSTANT_SCHEMA = {"type": "string", "format": "date-time"}
