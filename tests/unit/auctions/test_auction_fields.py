"""The auction's request fields (auctions.schemas): the terms' checks, DRF's words and the OpenAPI
schema from one declaration; the rules between the terms stay in the selling service. No
server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from msgspec import UNSET

from madeinpk.auctions.schemas import AuctionCreate, AuctionCreateForm, AuctionUpdate
from madeinpk.auctions.selling import Terms, check_terms
from madeinpk.db.database import MAX_ID
from madeinpk.http.bodies import component_schemas, to_struct
from madeinpk.http.errors import FieldErrorCollector
from madeinpk.money import Amount
from madeinpk.timestamps import BAD_DATETIME, Instant, utc_now

REQUIRED = "This field is required."


def iso(delta: timedelta) -> str:
    return (utc_now() + delta).isoformat().replace("+00:00", "Z")


def created(fields: dict[str, Any]) -> tuple[AuctionCreate, dict[str, list[str]]]:
    errors = FieldErrorCollector()
    return to_struct(fields, AuctionCreate, errors), errors.errors


def test_every_bad_term_is_reported_at_once() -> None:
    data, errors = created(
        {"product_id": "abc", "starting_price": "12.345", "start_time": None, "end_time": 5}
    )
    assert (data.product_id, data.starting_price, data.start_time, data.end_time) == (UNSET,) * 4
    assert errors == {
        "product_id": ["A valid integer is required."],
        "starting_price": ["Ensure that there are no more than 2 decimal places."],
        "start_time": [REQUIRED],
        "end_time": [BAD_DATETIME],
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"product_id": None}, {"product_id": [REQUIRED]}),
        ({"product_id": True}, {"product_id": ["A valid integer is required."]}),
        ({"product_id": 0}, {"product_id": ["Product not found"]}),
        ({"product_id": MAX_ID + 1}, {"product_id": ["Product not found"]}),  # was a 500 on PG
        ({"product_id": 10**30}, {"product_id": ["Product not found"]}),
        ({"starting_price": ""}, {"starting_price": [REQUIRED]}),  # a form's missing value
        ({"starting_price": None}, {"starting_price": ["A valid number is required."]}),
        ({"starting_price": "NaN"}, {"starting_price": ["A valid number is required."]}),
        ({"starting_price": 0}, {"starting_price": ["Ensure this value is greater than 0."]}),
        (
            {"starting_price": 1e10},
            {"starting_price": ["Ensure that there are no more than 10 digits in total."]},
        ),
        ({"end_time": ""}, {"end_time": [REQUIRED]}),
        ({"end_time": "tomorrow"}, {"end_time": [BAD_DATETIME]}),
        ({"end_time": "0001-01-01T00:00:00+05:00"}, {"end_time": [BAD_DATETIME]}),  # was a 500
        ({"start_time": ["2030-01-01"]}, {"start_time": [BAD_DATETIME]}),
    ],
)
def test_a_bad_term(fields: dict[str, Any], errors: dict[str, list[str]]) -> None:
    assert created(fields)[1] == errors


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2030-10-27T18:32:00Z", datetime(2030, 10, 27, 18, 32, tzinfo=UTC)),
        ("2030-10-27T18:32", datetime(2030, 10, 27, 18, 32, tzinfo=UTC)),  # datetime-local
        (" 2030-10-27T23:32:00+05:00 ", datetime(2030, 10, 27, 18, 32, tzinfo=UTC)),
        ("2030-10-27 18:32:00.5", datetime(2030, 10, 27, 18, 32, 0, 500000, tzinfo=UTC)),
    ],
)
def test_any_iso_8601_time_is_read_a_naive_one_as_utc(text: str, moment: datetime) -> None:
    data = to_struct({"start_time": text}, AuctionUpdate)
    assert isinstance(data.start_time, Instant) and data.start_time == moment


def test_money_is_read_exactly_from_a_number_or_a_string() -> None:
    for raw in (2500.5, "2500.50", " 2500.5 "):
        data = to_struct({"starting_price": raw}, AuctionUpdate)
        assert isinstance(data.starting_price, Amount)
        assert data.starting_price == Decimal("2500.50")


def test_the_terms_leave_the_service_as_plain_decimal_and_datetime() -> None:
    """Database drivers bind exact types: an ``Amount`` or an ``Instant`` would be refused."""
    errors = FieldErrorCollector()
    fields = {
        "starting_price": "100",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=1)),
    }
    terms = check_terms(errors, to_struct(fields, AuctionUpdate, errors), None)
    assert terms is not None and not errors.errors
    assert type(terms.starting_price) is Decimal
    assert type(terms.start_time) is datetime and type(terms.end_time) is datetime


def test_required_terms_and_the_rules_between_them() -> None:
    errors = FieldErrorCollector()
    assert check_terms(errors, to_struct({}, AuctionCreate, errors), None) is None
    assert errors.errors == {f: [REQUIRED] for f in ("starting_price", "start_time", "end_time")}

    errors = FieldErrorCollector()
    backwards = {
        "starting_price": "1",
        "start_time": iso(timedelta(days=2)),
        "end_time": iso(timedelta(days=1)),
    }
    assert check_terms(errors, to_struct(backwards, AuctionCreate, errors), None) is not None
    assert errors.errors == {"non_field_errors": ["End time must be after start time"]}


def test_an_update_keeps_the_terms_it_does_not_send_and_checks_none_after_a_refusal() -> None:
    now = utc_now()
    in_force = Terms(Decimal("100.00"), now, now + timedelta(days=1))
    errors = FieldErrorCollector()
    terms = check_terms(
        errors, to_struct({"starting_price": "250"}, AuctionUpdate, errors), in_force
    )
    assert terms == Terms(Decimal("250"), now, now + timedelta(days=1)) and not errors.errors

    errors = FieldErrorCollector()
    past = {"start_time": "garbage", "end_time": iso(-timedelta(days=1))}
    assert check_terms(errors, to_struct(past, AuctionUpdate, errors), in_force) is None
    assert errors.errors == {"start_time": [BAD_DATETIME]}  # no rule over a term it refused


def test_the_schema_shows_the_constraints_of_every_auction_body() -> None:
    for struct in (AuctionCreate, AuctionUpdate, AuctionCreateForm):
        fields = component_schemas(struct)[struct.__name__].to_schema()["properties"]
        price = fields["starting_price"]
        assert price["type"] == ["number", "string"]
        assert (price["exclusiveMinimum"], price["maximum"], price["multipleOf"]) == (
            0,
            99999999.99,
            0.01,
        )
        for name in ("start_time", "end_time"):
            assert (fields[name]["type"], fields[name]["format"]) == ("string", "date-time")
    product = component_schemas(AuctionCreate)["AuctionCreate"].to_schema()["properties"]
    assert (product["product_id"]["minimum"], product["product_id"]["maximum"]) == (1, MAX_ID)
    form = component_schemas(AuctionCreateForm)["AuctionCreateForm"].to_schema()["properties"]
    assert form["name"]["maxLength"] == 200 and form["condition"]["$ref"].endswith("Condition")
