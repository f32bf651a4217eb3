"""The product's request fields (catalog.schemas): one declaration gives the checks, DRF's words
and the OpenAPI schema, for creating and for editing. No server."""

from __future__ import annotations

from typing import Any

import pytest

from madeinpk.catalog.schemas import ProductCreate, ProductCreateForm, ProductUpdate
from madeinpk.catalog.service import parse_product
from madeinpk.catalog.tables import Condition
from madeinpk.db.database import MAX_ID
from madeinpk.http.bodies import component_schemas, to_struct
from madeinpk.http.errors import FieldErrorCollector, FieldErrors


def read(form: dict[str, Any], *, partial: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    errors = FieldErrorCollector()
    values = parse_product(errors, form, partial=partial)
    return values, errors.errors


def test_every_bad_field_is_reported_at_once() -> None:
    values, errors = read(
        {"name": " ", "description": "x" * 5001, "condition": "used", "category": MAX_ID + 1}
    )
    assert values == {}
    assert errors == {
        "name": ["This field may not be blank."],
        "description": ["Ensure this field has no more than 5000 characters."],
        "condition": ['"used" is not a valid choice.'],
        "category": ["A valid integer is required."],
    }


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"name": "x" * 201}, {"name": ["Ensure this field has no more than 200 characters."]}),
        ({"name": ["Shawl"]}, {"name": ["Not a valid string."]}),
        ({"name": True}, {"name": ["Not a valid string."]}),
        ({"description": ""}, {"description": ["This field may not be blank."]}),
        ({"condition": ""}, {"condition": ['"" is not a valid choice.']}),
        ({"condition": 5}, {"condition": ['"5" is not a valid choice.']}),
        ({"condition": ["new"]}, {"condition": ["\"['new']\" is not a valid choice."]}),
        ({"category": -1}, {"category": ["A valid integer is required."]}),
        ({"category": "abc"}, {"category": ["A valid integer is required."]}),
        ({"category": " 5"}, {"category": ["A valid integer is required."]}),
        ({"category": 10**30}, {"category": ["A valid integer is required."]}),
    ],
)
def test_a_bad_field(form: dict[str, Any], errors: dict[str, list[str]]) -> None:
    assert read(form)[1] == errors


@pytest.mark.parametrize(
    ("form", "values"),
    [
        ({"name": " Ajrak ", "description": " Print "}, {"name": "Ajrak", "description": "Print"}),
        ({"name": "x" * 200 + "  "}, {"name": "x" * 200}),  # the limit counts what is kept
        ({"name": 1947}, {"name": "1947"}),  # DRF's CharField: a number is its text
        ({"condition": "like_new"}, {"condition": "like_new"}),
        ({"category": "7"}, {"category": 7}),
        ({"category": ""}, {"category": None}),  # a form's "none"
        ({"category": None}, {"category": None}),
        ({"name": None, "description": None, "condition": None}, {}),  # null changes nothing
        ({"unknown": 1}, {}),
    ],
)  # fmt: skip
def test_an_edit_takes_what_is_sent(form: dict[str, Any], values: dict[str, Any]) -> None:
    assert read(form) == (values, {})


def test_creating_asks_for_a_name_and_a_description_and_defaults_the_condition() -> None:
    assert read({}, partial=False) == (
        {"condition": Condition.new.value},
        {"name": ["This field is required."], "description": ["This field is required."]},
    )
    assert read({"name": None, "description": "", "condition": None}, partial=False)[1] == {
        "name": ["This field is required."],
        "description": ["This field may not be blank."],
    }
    assert read({"name": "Ajrak", "description": "Block print"}, partial=False)[0] == {
        "name": "Ajrak",
        "description": "Block print",
        "condition": Condition.new.value,
    }


def test_a_bad_condition_is_not_replaced_by_the_default() -> None:
    values, errors = read({"name": "a", "description": "b", "condition": "x"}, partial=False)
    assert "condition" not in values and list(errors) == ["condition"]


def test_the_schema_shows_the_constraints_of_every_product_body() -> None:
    for struct in (ProductUpdate, ProductCreate, ProductCreateForm):
        schema = component_schemas(struct)
        fields = schema[struct.__name__].to_schema()["properties"]
        name = next(
            s for s in fields["name"].get("anyOf", [fields["name"]]) if s["type"] == "string"
        )
        assert (name["minLength"], name["maxLength"]) == (1, 200)
        description = fields["description"].get("anyOf", [fields["description"]])[0]
        assert (description["minLength"], description["maxLength"]) == (1, 5000)
        category = fields["category"]["anyOf"][0]
        assert (category["type"], category["minimum"], category["maximum"]) == (
            "integer",
            0,
            MAX_ID,
        )
        assert schema["Condition"].to_schema()["enum"] == sorted(c.value for c in Condition)


def test_a_bad_body_raises_every_error_when_no_collector_is_given() -> None:
    with pytest.raises(FieldErrors) as error:
        to_struct({"name": "", "category": "x"}, ProductUpdate)
    assert error.value.body == {
        "name": ["This field may not be blank."],
        "category": ["A valid integer is required."],
    }
