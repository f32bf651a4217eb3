"""Request bodies: read here, checked against their Structs here, documented by hand.

Some bodies may arrive as JSON or as a multipart form (the React client sends both). Litestar
picks a body parser from the handler's declared type; these endpoints take either, so they read
the request here and their OpenAPI entry documents both media types. Litestar would also stop at
a body's first bad field and word it its own way; ``to_struct`` reports every field, as DRF does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
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

from madeinpk.http.decoding import QUERY_NOT_TEXT, Undecodable, check_urlencoded, decode_json
from madeinpk.http.errors import (
    ApiError,
    FieldErrorCollector,
    drf_message,
    field_errors_from_msgspec,
    field_metadata,
    reject_impossible_ids,
    split_msgspec_error,
)

S = TypeVar("S", bound=msgspec.Struct)

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
    """Every HTTP request, before its handler: impossible ids are 404s, bytes that are no
    UTF-8 in the query string or a form are a 400, and unstorable text in the query string, a
    JSON body or a form is a field error. Checked here, in one place, so no endpoint can
    forget it; the body is parsed once and Litestar reuses it."""
    reject_impossible_ids(request)
    check_urlencoded(request.scope["query_string"], QUERY_NOT_TEXT)
    check_storable_text(request.query_params.multi_items())
    if request.headers.get("content-type", "").startswith(FORM_ENCODINGS):
        form = await request.form()  # ``ClientRequest.form``: Undecodable unless UTF-8
        check_storable_text((k, v) for k, v in form.multi_items() if isinstance(v, str))
        return
    if not await request.body():
        return
    try:
        # Litestar decodes JSON bodies whatever the declared content type; so does read_body.
        data = await request.json()
    except Undecodable:  # not JSON: the handler answers that, if it reads a body at all
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
    return Body(await read_json(request))


async def read_json(
    request: Request[Any, Any, Any], *, exact_numbers: bool = False
) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``); anything else is DRF's 400.
    ``exact_numbers``: see ``decode_json``."""
    raw = await request.body()
    if not raw:
        return {}
    decoded = decode_json(
        raw, exact_numbers=exact_numbers
    )  # Undecodable: DRF's 400 "JSON parse error - …"
    if not isinstance(decoded, dict):
        raise MalformedBody(
            "Invalid data. Expected a dictionary, but got list."
            if isinstance(decoded, list)
            else "Invalid data. Expected a dictionary."
        )
    return decoded


# --- request Structs ---------------------------------------------------------------------------
#
# A request field says everything about itself in its type: ``Annotated[T, msgspec.Meta(...)]``
# gives the constraints (msgspec checks them, and they are the OpenAPI schema), and
# ``Meta(extra=field_options(...))`` what DRF says that msgspec has no word for. A type msgspec
# cannot constrain (money, ISO-8601 times) is a class with a ``from_input`` classmethod that
# reads a raw value or raises ``ValueError`` with DRF's words; its schema goes in
# ``Meta(extra_json_schema=...)``.


def field_options(
    *, text: bool = False, blank_is_null: bool = False, **error_messages: str
) -> dict[str, Any]:
    """``Meta(extra=…)`` of a request field. ``text``: read as DRF's ``CharField`` reads, before
    the checks: a number is its text, surrounding whitespace is dropped; of an ``int`` field, as
    DRF's ``IntegerField`` reads that text (ASCII digits, a sign, a zero fraction: ``" +12.0 "``
    is 12, ``"1e2"`` is not an integer). ``blank_is_null``: an
    empty string means null (DRF's relations; a form's way to say "none"). ``error_messages``:
    the field's own words for any of DRF's keys (``null``, ``blank``, ``invalid``,
    ``invalid_choice``, ``min_length``, ``max_length``, ``min_value``, ``max_value``);
    ``{input}`` and ``{limit}`` are filled in."""
    return {"text": text, "blank_is_null": blank_is_null, "error_messages": error_messages}


def decode_input(type_: type, value: Any) -> Any:
    """msgspec's ``dec_hook`` for request bodies: a custom field type reads itself."""
    read = getattr(type_, "from_input", None)
    if read is None:
        raise NotImplementedError(f"{type_!r} cannot be read from a request")
    return read(value)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str  # the name in the body
    type: Any
    alone: type[msgspec.Struct]  # a Struct of this field only: converts it with its default
    text: bool
    blank_is_null: bool
    integer: bool  # an ``int`` field read as text: a string is an integer by DRF's grammar only


def _options(info: msgspec.inspect.Type) -> tuple[dict[str, Any], bool]:
    """The field's ``field_options`` and whether it takes an integer."""
    extra, types = field_metadata(info)
    return extra, any(isinstance(t, msgspec.inspect.IntType) for t in types)


@cache
def _fields(struct: type[msgspec.Struct]) -> tuple[_Field, ...]:
    fields = []
    for info in msgspec.structs.fields(struct):
        options, integer = _options(msgspec.inspect.type_info(info.type))
        default = (
            msgspec.NODEFAULT
            if info.required
            else info.default
            if info.default is not msgspec.NODEFAULT
            else msgspec.field(default_factory=info.default_factory)
        )
        alone = msgspec.defstruct(
            f"{struct.__name__}_{info.name}",
            [(info.name, info.type, default)],
            rename={info.name: info.encode_name},
        )
        fields.append(
            _Field(
                info.name,
                info.encode_name,
                info.type,
                alone,
                bool(options.get("text")),
                bool(options.get("blank_is_null")),
                bool(options.get("text")) and integer,
            )
        )
    return tuple(fields)


# DRF's ``IntegerField`` reads ``int(text)`` once a zero fraction is dropped (at most 30 digits
# here: Python refuses to read a few thousand, and no field of ours takes more than nine).
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}(?:\.0*)?")


def _prepared(fields: dict[str, Any], struct: type[msgspec.Struct]) -> dict[str, Any]:
    prepared = dict(fields)
    for item in _fields(struct):
        if item.key not in prepared:
            continue
        value = prepared[item.key]
        if item.integer:  # numbers stay numbers: 12.0 is 12, 12.5 no integer
            if isinstance(value, float) and value.is_integer():
                value = int(value)
        elif item.text and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            if item.text and not item.integer:
                value = value.strip()
            if item.blank_is_null and value == "":  # of an integer, "" only: " " is no integer
                value = None
            elif item.integer and (text := value.strip()).isascii():
                if _INTEGER_TEXT.fullmatch(text):
                    value = int(text.partition(".")[0])
        prepared[item.key] = value
    return prepared


def _unread(prepared: dict[str, Any], struct: type[msgspec.Struct]) -> bool:
    """Whether an integer field still holds text it could not read as one (msgspec's own lax
    reading would take more, such as ``"1e2"``): each field is then converted on its own."""
    return any(item.integer and isinstance(prepared.get(item.key), str) for item in _fields(struct))


def to_struct(
    fields: dict[str, Any], struct: type[S], errors: FieldErrorCollector | None = None
) -> S:
    """Read decoded fields (JSON, or a form's strings: lax) into a request Struct. Every field
    that does not fit is a DRF field error, all of them at once, in DRF's words or the field's
    own. Without ``errors`` they are raised here; with it they are added there and each such
    field keeps its default (so the Struct must give every field one), for the caller to add
    its own checks and raise everything together."""
    prepared = _prepared(fields, struct)
    problem: msgspec.ValidationError | None = None
    try:
        if not _unread(prepared, struct):
            return msgspec.convert(prepared, struct, strict=False, dec_hook=decode_input)
    except msgspec.ValidationError as exc:
        problem = exc
    collected = FieldErrorCollector() if errors is None else errors
    values: dict[str, Any] = {}
    reported = False
    for item in _fields(struct):
        if item.key not in prepared:
            continue
        value = prepared[item.key]
        try:
            converted = msgspec.convert(
                {item.key: value},
                item.alone,
                strict=item.integer,  # what an integer field could not read is no integer
                dec_hook=decode_input,
            )
        except msgspec.ValidationError as exc:
            reported = True
            message, at, where = str(exc).rpartition(" - at `$.")
            if not at or where != f"{item.key}`":  # inside a list or an object: msgspec's words
                collected.add(item.key, split_msgspec_error(str(exc))[0])
            else:
                collected.add(item.key, drf_message(message, value, item.type))
        else:
            values[item.name] = getattr(converted, item.name)
    if not reported and problem is not None:  # the body as a whole (a missing field)
        whole = field_errors_from_msgspec(problem)
        for name, messages in whole.body.items():
            for message in messages:
                collected.add(name, message)
    if errors is None:
        collected.check()
    return struct(**values)


def _body_operation(content: dict[str, str]) -> type[Operation]:
    """An OpenAPI operation whose body is, by media type, one of these components."""

    @dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True,
                content={
                    media_type: OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{component}")
                    )
                    for media_type, component in content.items()
                },
            )

    return BodyOperation


def json_or_form(json_schema: str, form_schema: str) -> type[Operation]:
    """An OpenAPI operation whose body is either the JSON or the multipart component."""
    return _body_operation({"application/json": json_schema, "multipart/form-data": form_schema})


def form_only(form_schema: str) -> type[Operation]:
    """An OpenAPI operation whose body is the multipart component ``form_schema``."""
    return _body_operation({"multipart/form-data": form_schema})


def json_only(json_schema: str) -> type[Operation]:
    """An OpenAPI operation whose body is the JSON component ``json_schema`` (read by
    ``read_json``, so the handler itself declares no body)."""
    return _body_operation({"application/json": json_schema})


_SCHEMA_KEYS = {
    "title": "title", "description": "description", "format": "format", "default": "default",
    "required": "required", "minimum": "minimum", "maximum": "maximum", "minLength": "min_length",
    "maxLength": "max_length", "examples": "examples", "enum": "enum", "pattern": "pattern",
    "exclusiveMinimum": "exclusive_minimum", "exclusiveMaximum": "exclusive_maximum",
    "multipleOf": "multiple_of",
}  # fmt: skip


def _schema(node: dict[str, Any]) -> Schema | Reference:
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    return _definition(node)


def _definition(node: dict[str, Any]) -> Schema:
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


def component_schemas(*structs: type[msgspec.Struct]) -> dict[str, Schema]:
    """OpenAPI components for bodies no handler declares (they are read by ``read_body``).
    Each is a definition: a reference appears only inside one."""
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    return {name: _definition(node) for name, node in components.items()}
