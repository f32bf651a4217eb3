"""Request Structs (madeinpk.http.bodies.to_struct): a field's type says its constraints, every
field that does not fit is reported at once, in DRF's words or the field's own."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import msgspec
import pytest
from msgspec import UNSET, UnsetType

from madeinpk.http.bodies import component_schemas, field_options, json_only, to_struct
from madeinpk.http.errors import FieldErrorCollector, FieldErrors, drf_message


class Colour(str, Enum):
    red = "red"
    blue = "blue"


class Cents(int):
    """A custom field type: reads itself, refuses in its own (DRF) words."""

    @classmethod
    def from_input(cls, raw: object) -> Cents:
        if not isinstance(raw, str) or not raw.isdigit():
            raise ValueError("A valid number is required.")
        return cls(raw)


Title = Annotated[str, msgspec.Meta(min_length=1, max_length=5, extra=field_options(text=True))]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=9)]
Ref = Annotated[
    int,
    msgspec.Meta(
        ge=0, le=99, extra=field_options(blank_is_null=True, max_value="No such thing {input}.")
    ),
]
Price = Annotated[
    Cents,
    msgspec.Meta(
        extra_json_schema={"type": "string", "pattern": "^[0-9]+$"},
        extra=field_options(null="Say a price.", blank="Say a price."),
    ),
]


class Order(msgspec.Struct):
    title: Title | UnsetType = UNSET
    quantity: Quantity | UnsetType = UNSET
    colour: Colour | UnsetType = UNSET
    ref: Ref | None | UnsetType = UNSET
    price: Price | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


def errors_of(fields: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(FieldErrors) as error:
        to_struct(fields, Order)
    return error.value.body


def test_a_body_that_fits_is_read_lax_as_a_form_sends_it() -> None:
    order = to_struct(
        {"title": "  Mug ", "quantity": "3", "colour": "red", "ref": "", "price": "250"}, Order
    )
    assert order == Order(title="Mug", quantity=3, colour=Colour.red, ref=None, price=Cents(250))
    assert isinstance(order.price, Cents)
    assert to_struct({"title": 123}, Order).title == "123"  # DRF's CharField: a number's text


def test_every_field_that_does_not_fit_is_reported_at_once_in_drf_words() -> None:
    assert errors_of(
        {
            "title": "   ",
            "quantity": 10,
            "colour": "green",
            "ref": "abc",
            "price": "1.5",
            "tags": [1],
        }
    ) == {
        "title": ["This field may not be blank."],
        "quantity": ["Ensure this value is less than or equal to 9."],
        "colour": ['"green" is not a valid choice.'],
        "ref": ["A valid integer is required."],
        "price": ["A valid number is required."],  # the type's own words
        "tags": ["Expected `str`, got `int`"],  # inside a list: msgspec's words, as before
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"title": "toolong"}, {"title": ["Ensure this field has no more than 5 characters."]}),
        ({"title": True}, {"title": ["Not a valid string."]}),
        ({"title": None}, {"title": ["This field may not be null."]}),
        ({"quantity": 0}, {"quantity": ["Ensure this value is greater than or equal to 1."]}),
        ({"quantity": 1.5}, {"quantity": ["A valid integer is required."]}),
        ({"quantity": False}, {"quantity": ["A valid integer is required."]}),
        ({"colour": 5}, {"colour": ['"5" is not a valid choice.']}),
        ({"colour": ["red"]}, {"colour": ["\"['red']\" is not a valid choice."]}),
        ({"ref": 100}, {"ref": ["No such thing 100."]}),  # the field's own words
        ({"ref": -1}, {"ref": ["Ensure this value is greater than or equal to 0."]}),
        ({"price": None}, {"price": ["Say a price."]}),
        ({"price": ""}, {"price": ["Say a price."]}),
    ],
)
def test_each_way_a_field_can_fail(fields: dict[str, Any], errors: dict[str, list[str]]) -> None:
    assert errors_of(fields) == errors


def test_with_a_collector_the_caller_adds_its_own_checks_and_raises_them_together() -> None:
    errors = FieldErrorCollector()
    order = to_struct({"title": "", "quantity": 2, "price": "x"}, Order, errors)
    assert (order.title, order.quantity, order.price) == (UNSET, 2, UNSET)  # refused: default
    errors.add("non_field_errors", "Mugs come in pairs")
    with pytest.raises(FieldErrors) as error:
        errors.check()
    assert error.value.body == {
        "title": ["This field may not be blank."],
        "price": ["A valid number is required."],
        "non_field_errors": ["Mugs come in pairs"],
    }


@pytest.mark.parametrize(
    ("message", "value", "field_type", "words"),
    [
        ("Expected `int | null`, got `str`", "x", int | None, "A valid integer is required."),
        ("Expected `str`, got `null`", None, str, "This field may not be null."),
        ("Expected `str` of length >= 3", "ab", str, "Ensure this field has at least 3 "
         "characters."),
        ("Expected `int` > 0", 0, int, "Ensure this value is greater than 0."),
        ("Expected `int` < 5", 5, int, "Ensure this value is less than 5."),
        ("Invalid enum value 'x'", "x", Colour, '"x" is not a valid choice.'),
        ("Expected `array`, got `str`", "x", list[int], "Expected `array`, got `str`"),
        ("Ensure that there are no more than 2 decimal places.", "1.001", Price, "Ensure that "
         "there are no more than 2 decimal places."),
    ],
)  # fmt: skip
def test_msgspec_words_become_drf_words(
    message: str, value: Any, field_type: Any, words: str
) -> None:
    assert drf_message(message, value, field_type) == words


def test_the_schema_shows_the_constraints() -> None:
    schema = component_schemas(Order)["Order"].to_schema()
    fields = schema["properties"]
    assert (fields["title"]["minLength"], fields["title"]["maxLength"]) == (1, 5)
    assert (fields["quantity"]["minimum"], fields["quantity"]["maximum"]) == (1, 9)
    assert fields["colour"] == {"$ref": "#/components/schemas/Colour"}
    assert component_schemas(Order)["Colour"].to_schema()["enum"] == ["blue", "red"]
    assert fields["ref"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 99}
    assert fields["price"] == {"type": "string", "pattern": "^[0-9]+$"}


def test_a_json_only_body_is_documented_as_its_component() -> None:
    operation = json_only("Order")()
    assert operation.request_body is not None
    assert operation.request_body.to_schema() == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
        "required": True,
    }


Seconds = Annotated[int, msgspec.Meta(ge=0, le=60, extra=field_options(text=True))]
FormSeconds = Annotated[
    int, msgspec.Meta(ge=0, le=60, extra=field_options(text=True, blank_is_null=True))
]


class Timer(msgspec.Struct):
    seconds: Seconds | UnsetType = UNSET
    form_seconds: FormSeconds | None | UnsetType = UNSET


@pytest.mark.parametrize(
    ("raw", "read"),
    [(12, 12), (12.0, 12), ("12", 12), (" +12 ", 12), ("12.", 12), ("12.00", 12), ("-0", 0)],
)
def test_an_integer_field_read_as_text_takes_what_drf_takes(raw: object, read: int) -> None:
    assert to_struct({"seconds": raw, "form_seconds": raw}, Timer) == Timer(read, read)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1e2", "A valid integer is required."),  # msgspec alone would read 100
        ("12.5", "A valid integer is required."),
        (12.5, "A valid integer is required."),
        ("0x10", "A valid integer is required."),
        ("١٢", "A valid integer is required."),
        (" ", "A valid integer is required."),  # only "" is a form's blank
        ("1" * 31, "A valid integer is required."),  # never handed to int() unbounded
        ("9" * 5000, "A valid integer is required."),
        (True, "A valid integer is required."),
        ([1], "A valid integer is required."),
        (None, "This field may not be null."),
        ("-1", "Ensure this value is greater than or equal to 0."),
        ("61", "Ensure this value is less than or equal to 60."),
        (10**40, "Ensure this value is less than or equal to 60."),
        (1e40, "Ensure this value is less than or equal to 60."),
    ],
)
def test_an_integer_field_read_as_text_refuses_in_drf_words(raw: object, message: str) -> None:
    with pytest.raises(FieldErrors) as error:
        to_struct({"seconds": raw}, Timer)
    assert error.value.body == {"seconds": [message]}


def test_a_blank_form_integer_is_null_and_a_json_one_is_not() -> None:
    assert to_struct({"form_seconds": ""}, Timer) == Timer(form_seconds=None)
    with pytest.raises(FieldErrors) as error:
        to_struct({"seconds": "", "form_seconds": "x"}, Timer)
    assert error.value.body == {
        "seconds": ["A valid integer is required."],
        "form_seconds": ["A valid integer is required."],
    }
