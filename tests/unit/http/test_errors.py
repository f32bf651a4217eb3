"""Error shaping (madeinpk.http.errors and http.bodies): msgspec and Litestar problems become
DRF's bodies, in one place."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import Request
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)

from madeinpk.http.bodies import to_struct
from madeinpk.http.errors import (
    EXCEPTION_HANDLERS,
    BusinessError,
    FieldErrorCollector,
    FieldErrors,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
    split_msgspec_error,
)


def _request(method: str = "GET") -> Request[Any, Any, Any]:
    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    return Request(scope=scope)  # type: ignore[arg-type]


def _answer(exc: Exception, method: str = "GET") -> tuple[int, Any, dict[str, str]]:
    handler = next(h for kind, h in EXCEPTION_HANDLERS.items() if type(exc) is kind)
    response = handler(_request(method), exc)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return response.status_code, response.content, headers


class Bid(msgspec.Struct):
    amount: int
    note: str = ""
    tags: list[str] = []


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("Expected `int`, got `str` - at `$.amount`", ("Expected `int`, got `str`", "amount")),
        ("Expected `str`, got `int` - at `$.tags[0]`", ("Expected `str`, got `int`", "tags")),
        ("Expected `int` - at `$.a.b`", ("Expected `int`", "a")),
        ("Expected `object`, got `array`", ("Expected `object`, got `array`", None)),
        ("Expected `int` - at `$[0]`", ("Expected `int` - at `$[0]`", None)),
    ],
)
def test_split_msgspec_error(text: str, split: tuple[str, str | None]) -> None:
    assert split_msgspec_error(text) == split


def test_a_struct_that_does_not_fit_is_a_field_error() -> None:
    assert to_struct({"amount": "5"}, Bid).amount == 5  # lax, as form fields are strings
    with pytest.raises(FieldErrors) as error:
        to_struct({"amount": 5, "tags": [1]}, Bid)
    assert error.value.body == {"tags": ["Expected `str`, got `int`"]}
    with pytest.raises(FieldErrors) as error:
        to_struct({}, Bid)
    assert error.value.body == {"non_field_errors": ["Object missing required field `amount`"]}


def test_litestar_validation_problems_are_keyed_by_field() -> None:
    exc = ValidationException(
        detail="Validation failed for POST /x/",
        extra=[
            {"message": "Object missing required field `amount`", "key": "body"},
            {"message": "Expected `int`, got `str` - at `$.quantity`", "key": "body"},
            {"message": "Expected `int`, got `str`", "key": "page"},
            {"message": "Something odd", "key": "body"},
            "not a dict",
        ],
    )
    status, body, _ = _answer(exc)
    assert status == 400
    assert body == {
        "amount": ["This field is required."],
        "quantity": ["Invalid value: expected `int`, got `str`."],
        "page": ["Invalid value: expected `int`, got `str`."],
        "non_field_errors": ["Something odd"],
    }


def test_a_validation_problem_without_details_keeps_its_words() -> None:
    status, body, _ = _answer(ValidationException(detail="Bad body - at `$.x`"))
    assert (status, body) == (400, {"non_field_errors": ["Bad body"]})
    status, body, _ = _answer(ValidationException())  # Litestar's default detail
    assert body == {"non_field_errors": ["Bad Request"]}


def test_collected_field_errors_are_raised_together() -> None:
    errors = FieldErrorCollector()
    errors.check()  # nothing collected, nothing raised
    errors.add("name", "This field may not be blank.")
    errors.add("name", "Too short.")
    errors.add("price", "A valid number is required.")
    with pytest.raises(FieldErrors) as error:
        errors.check()
    assert error.value.body == {
        "name": ["This field may not be blank.", "Too short."],
        "price": ["A valid number is required."],
    }


@pytest.mark.parametrize(
    ("exc", "status", "body", "headers"),
    [
        (BusinessError("Auction has ended"), 400, {"error": "Auction has ended"}, {}),
        (NotFound(), 404, {"detail": "Not found."}, {}),
        (
            NotAuthenticated(),
            401,
            {"detail": "Authentication credentials were not provided."},
            {"www-authenticate": "Token"},
        ),
        (
            NotAuthenticated("Invalid token."),
            401,
            {"detail": "Invalid token."},
            {"www-authenticate": "Token"},
        ),
        (
            PermissionDenied(),
            403,
            {"detail": "You do not have permission to perform this action."},
            {},
        ),
        (
            Throttled(1),
            429,
            {"detail": "Request was throttled. Expected available in 1 second."},
            {"retry-after": "1"},
        ),
        (
            Throttled(30),
            429,
            {"detail": "Request was throttled. Expected available in 30 seconds."},
            {"retry-after": "30"},
        ),
    ],
)
def test_api_errors(exc: Exception, status: int, body: Any, headers: dict[str, str]) -> None:
    handler = EXCEPTION_HANDLERS[next(k for k in EXCEPTION_HANDLERS if k.__name__ == "ApiError")]
    response = handler(_request(), exc)
    assert (response.status_code, response.content) == (status, body)
    assert {k.lower(): v for k, v in response.headers.items() if k.lower() != "content-type"} == (
        headers
    )


def test_litestar_errors_speak_drf() -> None:
    assert _answer(NotFoundException())[:2] == (404, {"detail": "Not found."})
    assert _answer(MethodNotAllowedException(), "PATCH")[:2] == (
        405,
        {"detail": 'Method "PATCH" not allowed.'},
    )
    status, body, headers = _answer(NotAuthorizedException(detail="whatever"))
    assert (status, body) == (401, {"detail": "Authentication credentials were not provided."})
    assert {k.lower(): v for k, v in headers.items()} == {"www-authenticate": "Token"}
    assert _answer(PermissionDeniedException())[:2] == (
        403,
        {"detail": "You do not have permission to perform this action."},
    )
    assert _answer(HTTPException(status_code=413, detail="Request Entity Too Large"))[:2] == (
        413,
        {"detail": "Request Entity Too Large"},
    )
