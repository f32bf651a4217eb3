"""Bodies that may arrive as JSON or as a multipart form (the React client sends both).

Litestar picks a body parser from the handler's declared type; these endpoints take either, so
they read the request here and their OpenAPI entry documents both media types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import UploadFile
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from madeinpk.http.errors import (
    ApiError,
    FieldErrorCollector,
    field_errors_from_msgspec,
    reject_impossible_ids,
)

T = TypeVar("T")

UPLOAD_LIMIT = 60 * 1024 * 1024  # ten 5 MB images and the form around them


@dataclass
class Body:
    fields: dict[str, Any]
    files: dict[str, list[bytes]] = field(default_factory=dict)


class MalformedBody(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__({"detail": detail}, 400)


NULL_CHARACTERS = "Null characters are not allowed."
FORM_ENCODINGS = ("multipart/form-data", "application/x-www-form-urlencoded")


def text_problem(text: str) -> str | None:
    """Why the database cannot store ``text`` (DRF's wording), or None: PostgreSQL's text
    types refuse NUL, and no UTF-8 can carry a lone surrogate (SQLite refuses those too)."""
    if "\x00" in text:
        return NULL_CHARACTERS
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"Surrogate characters are not allowed: U+{ord(text[exc.start]):X}."
    return None


def _first_problem(value: Any) -> str | None:
    """The first unstorable text anywhere in a decoded value, keys included (iterative: JSON
    may nest deeper than Python's recursion limit)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def check_storable_text(items: Iterable[tuple[str, Any]]) -> None:
    """400 field errors for every field whose name or value holds text the database cannot
    store, instead of a driver error (a 500) when it reaches a query."""
    errors = FieldErrorCollector()
    for name, value in items:
        problem = text_problem(name)
        field_name = "non_field_errors" if problem else name
        problem = problem or _first_problem(value)
        if problem and problem not in errors.errors.get(field_name, []):
            errors.add(field_name, problem)
    errors.check()


async def screen_request(request: Request[Any, Any, Any]) -> None:
    """Every HTTP request, before its handler: impossible ids are 404s, and unstorable text in
    the query string, a JSON body or a form is a field error. Checked here, in one place, so
    no endpoint can forget it; the body is parsed once and Litestar reuses it."""
    reject_impossible_ids(request)
    check_storable_text(request.query_params.multi_items())
    if request.headers.get("content-type", "").startswith(FORM_ENCODINGS):
        try:
            form = await request.form()
        except (UnicodeDecodeError, LookupError):
            raise MalformedBody("Multipart form parse error - a field is not valid text.") from None
        check_storable_text((k, v) for k, v in form.multi_items() if isinstance(v, str))
        return
    if not await request.body():
        return
    try:
        # Litestar decodes JSON bodies whatever the declared content type; so does read_body.
        data = await request.json()
    except Exception:  # not JSON: the handler answers that in its own words
        return
    check_storable_text(data.items() if isinstance(data, dict) else [("non_field_errors", data)])


async def read_body(request: Request[Any, Any, Any]) -> Body:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        fields: dict[str, Any] = {}
        files: dict[str, list[bytes]] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(name, []).append(await value.read())
            else:
                fields[name] = value
        return Body(fields, files)
    raw = await request.body()
    if not raw:
        return Body({})
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"JSON parse error - {exc}") from None
    if not isinstance(decoded, dict):
        raise MalformedBody(
            "Invalid data. Expected a dictionary, but got list."
            if isinstance(decoded, list)
            else "Invalid data. Expected a dictionary."
        )
    return Body(decoded)


def to_struct(fields: dict[str, Any], struct: type[T]) -> T:
    """Convert decoded fields to a request Struct; a wrong type is a DRF field error."""
    try:
        return msgspec.convert(fields, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise field_errors_from_msgspec(exc) from None


def json_or_form(json_schema: str, form_schema: str) -> type[Operation]:
    """An OpenAPI operation whose body is either the JSON or the multipart component."""

    @dataclass
    class JsonOrFormOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True,
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{json_schema}")
                    ),
                    "multipart/form-data": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{form_schema}")
                    ),
                },
            )

    return JsonOrFormOperation


def form_only(form_schema: str) -> type[Operation]:
    """An OpenAPI operation whose body is the multipart component ``form_schema``."""

    @dataclass
    class FormOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True,
                content={
                    "multipart/form-data": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{form_schema}")
                    )
                },
            )

    return FormOperation


_SCHEMA_KEYS = {
    "title": "title", "description": "description", "format": "format", "default": "default",
    "required": "required", "minimum": "minimum", "maximum": "maximum", "minLength": "min_length",
    "maxLength": "max_length", "examples": "examples", "enum": "enum",
}  # fmt: skip


def _schema(node: dict[str, Any]) -> Schema | Reference:
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            kwargs["type"] = (
                OpenAPIType(value) if isinstance(value, str) else [OpenAPIType(v) for v in value]
            )
        elif key == "properties":
            kwargs["properties"] = {name: _schema(sub) for name, sub in value.items()}
        elif key == "items":
            kwargs["items"] = _schema(value)
        elif key == "anyOf":
            kwargs["any_of"] = [_schema(sub) for sub in value]
        elif key == "contentEncoding":  # msgspec's bytes: an uploaded file in a form
            kwargs["format"] = "binary"
        elif key in _SCHEMA_KEYS:
            kwargs[_SCHEMA_KEYS[key]] = value
    return Schema(**kwargs)


def component_schemas(*structs: type[msgspec.Struct]) -> dict[str, Schema | Reference]:
    """OpenAPI components for bodies no handler declares (they are read by ``read_body``)."""
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    return {name: _schema(node) for name, node in components.items()}
