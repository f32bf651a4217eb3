"""Reading what clients send, in one place for every transport.

Bytes that cannot be read — not JSON, not UTF-8, nested past the recursion limit, a number
past any integer — raise ``Undecodable`` here and nowhere else. REST answers it with DRF's 400
(``http.errors``), both sockets with an ``invalid_message`` frame (``http.websocket``). msgspec
raises four unrelated exceptions for these (``DecodeError``, ``UnicodeDecodeError``,
``RecursionError``, and ``ValidationError`` for an integer past 64 bits); a reader that caught
fewer let the others through as a 500 or a 4500 close.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec

# What decoding a client's bytes may raise. ``ValidationError`` is a ``DecodeError``.
DECODING_FAILURES = (msgspec.DecodeError, UnicodeError, RecursionError, OverflowError)


class Undecodable(ValueError):
    """Client input that cannot be read; ``detail`` says why in DRF's words."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeError):
        return "Input is not valid UTF-8."
    if isinstance(exc, RecursionError):
        return "JSON is nested too deeply."
    if isinstance(exc, OverflowError):
        return "Number out of range."
    return str(exc)


def json_failure(exc: BaseException) -> Undecodable:
    """``exc``, raised while decoding a JSON body, as DRF's parse error."""
    return Undecodable(f"JSON parse error - {_reason(exc)}")


# JSON numbers with a fraction or an exponent as ``Decimal``s, exactly as written (money).
_exact = msgspec.json.Decoder(float_hook=Decimal)


def decode_json(data: bytes | str, *, exact_numbers: bool = False) -> Any:
    """Any JSON value, or ``Undecodable``. ``exact_numbers``: a number that is not an integer is
    a ``Decimal`` as written, never a float (how an amount is read, by every transport)."""
    try:
        return _exact.decode(data) if exact_numbers else msgspec.json.decode(data)
    except DECODING_FAILURES as exc:
        raise json_failure(exc) from None


FORM_NOT_TEXT = "Form parse error - a field is not valid UTF-8."
QUERY_NOT_TEXT = "Query string is not valid UTF-8."


def check_urlencoded(raw: bytes, detail: str) -> None:
    """``Undecodable(detail)`` unless every name and value of an ``a=1&b=2`` string is UTF-8
    once percent-decoded. Python's (and so Litestar's) parser turns such bytes into U+FFFD,
    which would be stored and searched for as if the client had typed it."""
    for pair in raw.split(b"&"):
        for part in pair.split(b"=", 1):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise Undecodable(detail) from None
