"""The one place that turns errors into DRF-compatible bodies, for every endpoint.

The React client matches on these shapes: ``{"detail": …}`` for protocol errors,
``{"field": ["…"]}`` for validation, ``{"error": "…"}`` for business rules.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
    WebSocketException,
)
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from madeinpk.db.database import MAX_ID
from madeinpk.http.decoding import Undecodable

logger = logging.getLogger(__name__)

NOT_AUTHENTICATED = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
PERMISSION_DENIED = "You do not have permission to perform this action."
NOT_FOUND = "Not found."
REQUIRED = "This field is required."
BLOCKED = "Your account is blocked"
UNAVAILABLE = "The service is temporarily unavailable, please try again in a moment."
RETRY_AFTER_SECONDS = 2


class ApiError(Exception):
    """An error with a ready response body; raise a subclass from any layer."""

    status_code = 400

    def __init__(self, body: dict[str, Any], status_code: int | None = None) -> None:
        super().__init__(body)
        self.body = body
        if status_code is not None:
            self.status_code = status_code

    @property
    def headers(self) -> dict[str, str]:
        return {}


class FieldErrors(ApiError):
    """400 ``{"field": ["message", …]}``; whole-body problems go under ``non_field_errors``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(dict(errors), 400)


class FieldErrorCollector:
    """Collects every field error of a body so the client can show them all at once, as DRF
    does, then raises them together."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)


def field_error(field: str, message: str) -> FieldErrors:
    return FieldErrors({field: [message]})


class BusinessError(ApiError):
    """``{"error": message}``: a rule of the marketplace said no."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__({"error": message}, status_code)
        self.message = message


class NotFound(ApiError):
    def __init__(self) -> None:
        super().__init__({"detail": NOT_FOUND}, 404)


class NotAuthenticated(ApiError):
    def __init__(self, detail: str = NOT_AUTHENTICATED) -> None:
        super().__init__({"detail": detail}, 401)

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Token"}


class PermissionDenied(ApiError):
    def __init__(self) -> None:
        super().__init__({"detail": PERMISSION_DENIED}, 403)


class ServiceUnavailable(ApiError):
    """503 with ``Retry-After``: PostgreSQL or Redis is away; the request changed nothing."""

    def __init__(self) -> None:
        super().__init__({"detail": UNAVAILABLE}, 503)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class Throttled(ApiError):
    """429 in DRF's words, with ``Retry-After``: too many attempts, try again in ``wait`` s."""

    def __init__(self, wait: int) -> None:
        unit = "second" if wait == 1 else "seconds"
        super().__init__(
            {"detail": f"Request was throttled. Expected available in {wait} {unit}."}, 429
        )
        self.wait = wait

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait)}


def reject_impossible_ids(request: Request[Any, Any, Any]) -> None:
    """A path id that is not ASCII digits, or beyond the serial range, names nothing: 404,
    before any query overflows. Litestar reads ``{id:int}`` with ``int()``, which also takes
    other scripts' digits (Arabic-Indic, full-width), a sign, spaces and underscores;
    Django's ``<int:>`` takes ``[0-9]+`` only, as the URLs the API writes."""
    ids = [v for v in request.path_params.values() if isinstance(v, int)]
    if not ids:
        return
    written = {
        int(segment)
        for segment in request.scope["path"].split("/")
        if segment.isascii() and segment.isdigit() and len(segment.lstrip("0")) <= 10
    }
    if any(value not in written or not 0 <= value <= MAX_ID for value in ids):
        raise NotFound()


def _respond(
    body: dict[str, Any], status_code: int, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return _respond(exc.body, exc.status_code, exc.headers)


_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def split_msgspec_error(text: str) -> tuple[str, str | None]:
    """A msgspec validation message as (message, top-level field), e.g. ``"Expected `int`, got
    `str` - at `$.price[0]`"`` is ``("Expected `int`, got `str`", "price")``; a message about
    the whole body has no field."""
    message, _, where = text.partition(" - at `$.")
    field = where.split("`")[0].split(".")[0].split("[")[0]
    return message, field or None


def field_errors_from_msgspec(exc: msgspec.ValidationError) -> FieldErrors:
    """A body that does not fit its Struct, as DRF's 400: the message under its field."""
    message, field = split_msgspec_error(str(exc))
    return FieldErrors({field or "non_field_errors": [message]})


# DRF's default ``error_messages`` (``rest_framework.fields``), by DRF's keys. A request field
# may give any key its own words in its declaration (``http.bodies.field_options``).
NOT_NULL = "This field may not be null."
NOT_INTEGER = "A valid integer is required."
DRF_MESSAGES = {
    "null": NOT_NULL,
    "blank": "This field may not be blank.",
    "invalid_choice": '"{input}" is not a valid choice.',
    "min_length": "Ensure this field has at least {limit} characters.",
    "max_length": "Ensure this field has no more than {limit} characters.",
    "min_value": "Ensure this value is greater than or equal to {limit}.",
    "max_value": "Ensure this value is less than or equal to {limit}.",
}
# ``invalid``, by the type msgspec expected.
_INVALID = {
    "int": NOT_INTEGER,
    "float": "A valid number is required.",
    "str": "Not a valid string.",
    "bool": "Must be a valid boolean.",
}
# msgspec's words for a scalar that does not fit (``msgspec/_core.c``); anything else (the
# words of a custom type's decoder, a nested problem) is kept as msgspec says it.
_TYPE = re.compile(r"Expected `(?P<expected>[a-z]+)[^`]*`, got `(?P<got>[a-z]+)`")
_LENGTH = re.compile(r"Expected `str` of length (?P<op>[<>]=) (?P<limit>\d+)")
_BOUND = re.compile(r"Expected `(?:int|float)` (?P<op>[<>]=?) (?P<limit>\S+)")
_STRICT_BOUNDS = {
    ">": ("min_value", "Ensure this value is greater than {limit}."),
    "<": ("max_value", "Ensure this value is less than {limit}."),
}


def field_metadata(info: msgspec.inspect.Type) -> tuple[dict[str, Any], list[msgspec.inspect.Type]]:
    """A field's ``Meta(extra=...)`` merged over its union's members, and those members with
    their metadata taken off."""
    members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    extra: dict[str, Any] = {}
    types = []
    for member in members:
        if isinstance(member, msgspec.inspect.Metadata):
            extra.update(member.extra or {})
            member = member.type
        types.append(member)
    return extra, types


def _declared(info: msgspec.inspect.Type) -> tuple[dict[str, str], bool]:
    """The field's own ``error_messages`` (from its Meta) and whether it is a choice."""
    extra, types = field_metadata(info)
    choice = msgspec.inspect.EnumType | msgspec.inspect.LiteralType
    return extra.get("error_messages", {}), any(isinstance(t, choice) for t in types)


def drf_message(message: str, value: Any, field_type: Any) -> str:
    """msgspec's reason why ``value`` does not fit a request field of ``field_type`` (the
    message without its ``- at`` part), in DRF's words, or in the field's own where it declares
    them. A message msgspec did not write (a custom type's decoder speaks DRF already) is kept."""
    declared, choice = _declared(msgspec.inspect.type_info(field_type))
    if value is None and "null" in declared:
        return declared["null"]
    if value == "" and "blank" in declared:
        return declared["blank"]
    key, limit, default = None, "", message
    typed = _TYPE.fullmatch(message)
    if typed and typed["got"] == "null":
        key, default = "null", NOT_NULL
    elif message.startswith("Invalid enum value") or (choice and typed):
        key, default = "invalid_choice", DRF_MESSAGES["invalid_choice"]
    elif typed:
        key, default = "invalid", _INVALID.get(typed["expected"], message)
    elif length := _LENGTH.fullmatch(message):
        limit = length["limit"]
        key = "max_length" if length["op"] == "<=" else "blank" if limit == "1" else "min_length"
        default = DRF_MESSAGES[key]
    elif bound := _BOUND.fullmatch(message):
        limit = bound["limit"]
        if bound["op"] in _STRICT_BOUNDS:
            key, default = _STRICT_BOUNDS[bound["op"]]
        else:
            key = "min_value" if bound["op"] == ">=" else "max_value"
            default = DRF_MESSAGES[key]
    text = declared.get(key, default) if key else default
    return text.replace("{input}", str(value)).replace("{limit}", limit)


def _undecodable(_: Request[Any, Any, Any], exc: Undecodable) -> Response[Any]:
    return _respond({"detail": exc.detail}, 400)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar reports body and query problems as a list; re-key them by field, DRF style."""
    errors: dict[str, list[str]] = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "Invalid value."))
        field = item.get("key")
        if missing := _MISSING.search(message):
            field, message = missing["field"], REQUIRED
        else:
            message, at = split_msgspec_error(message)
            field = at or field
        if message.startswith("Expected `"):
            message = f"Invalid value: {message[0].lower()}{message[1:]}."
        if not field or field == "body":
            field = "non_field_errors"
        errors.setdefault(str(field), []).append(message)
    if not errors:
        errors = {"non_field_errors": [_plain(exc.detail) or "Invalid input."]}
    return _respond(errors, 400)


def _plain(detail: str) -> str:
    return detail.split(" - at ")[0] if detail else ""


def _not_found(_: Request[Any, Any, Any], __: NotFoundException) -> Response[Any]:
    return _respond({"detail": NOT_FOUND}, 404)


def _method_not_allowed(
    request: Request[Any, Any, Any], _: MethodNotAllowedException
) -> Response[Any]:
    return _respond({"detail": f'Method "{request.method}" not allowed.'}, 405)


def _not_authorized(_: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    detail = exc.detail if exc.detail in (INVALID_TOKEN, NOT_AUTHENTICATED) else NOT_AUTHENTICATED
    return _respond({"detail": detail}, 401, {"WWW-Authenticate": "Token"})


def _permission_denied(_: Request[Any, Any, Any], __: PermissionDeniedException) -> Response[Any]:
    return _respond({"detail": PERMISSION_DENIED}, 403)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _respond({"detail": exc.detail}, exc.status_code, exc.headers)


async def log_socket_failure(exc: Exception, scope: Any) -> None:
    """``after_exception``: an unexpected error on a socket closes it with 4500 (Litestar does
    that) and would go unheard; HTTP's 500 handler logs its own."""
    if scope["type"] == "websocket" and not isinstance(exc, WebSocketException):
        logger.error("Unhandled error on socket %s", scope["path"], exc_info=exc)


def _server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The scope's path: building ``request.url`` may itself fail (it reads the Host header).
    logger.exception(
        "Unhandled error on %s %s", request.method, request.scope["path"], exc_info=exc
    )
    return _respond({"detail": "A server error occurred."}, HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: _api_error,
    Undecodable: _undecodable,
    ValidationException: _validation_error,
    NotFoundException: _not_found,
    MethodNotAllowedException: _method_not_allowed,
    NotAuthorizedException: _not_authorized,
    PermissionDeniedException: _permission_denied,
    HTTPException: _http_error,
    HTTP_500_INTERNAL_SERVER_ERROR: _server_error,
}


ERROR_BODY = Schema(
    type=OpenAPIType.OBJECT,
    title="ErrorBody",
    description=(
        'DRF-style error: {"detail": "…"} for protocol errors, {"error": "…"} for business '
        'rules, or {"field": ["message", …]} (whole-body problems under "non_field_errors")'
    ),
    additional_properties=Schema(
        one_of=[
            Schema(type=OpenAPIType.STRING),
            Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)),
        ]
    ),
)


def document_error_bodies(openapi: OpenAPI) -> None:
    """Litestar documents its own error shape; the API answers DRF bodies, so say that."""
    openapi.components.schemas = {**(openapi.components.schemas or {}), "ErrorBody": ERROR_BODY}
    for path_item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if operation is None or not operation.responses:
                continue
            for code, response in operation.responses.items():
                if code.startswith(("4", "5")) and isinstance(response, OpenAPIResponse):
                    response.content = {
                        "application/json": OpenAPIMediaType(
                            schema=Reference("#/components/schemas/ErrorBody")
                        )
                    }
