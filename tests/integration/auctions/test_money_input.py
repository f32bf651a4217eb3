"""Money input reads ASCII numbers only: other scripts' digits are not amounts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, Bid
from madeinpk.money import InvalidAmount, parse_amount, to_money
from tests.integration.auctions.test_auctions_api import iso
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

NOT_ASCII = [
    "٤٠٠٠",  # Arabic-Indic
    "۴۰۰۰",  # Extended Arabic-Indic (Urdu)
    "\uff14\uff10\uff10\uff10",  # fullwidth "4000"
    "४०००",  # Devanagari
    "4000.\u0665\u0660",  # ASCII with Arabic-Indic decimals
    "4_000",  # a digit separator Decimal accepts
]


@pytest.mark.parametrize("raw", NOT_ASCII)
def test_non_ascii_digits_are_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidAmount) as error:
        parse_amount(raw)
    assert str(error.value) == "A valid number is required."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("4000", "4000.00"), (" 4000.5 ", "4000.50"), (4000, "4000.00"), (2875.25, "2875.25")],
)
def test_ascii_amounts_still_parse(raw: object, expected: str) -> None:
    assert parse_amount(raw) == Decimal(expected)


async def test_rest_bid_in_arabic_indic_digits_is_refused(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": "٤٠٠٠"}, headers=buyer.auth
    )
    assert (response.status_code, response.json()) == (
        400,
        {"amount": ["A valid number is required."]},
    )
    assert await Bid.count() == 0
    row = await Auction.select(Auction.current_price).where(Auction.id == auction_id).first()
    assert row is not None and to_money(row["current_price"]) == Decimal("2500.00")


async def test_starting_price_in_arabic_indic_digits_is_refused(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    response = await client.post(
        "/api/auctions/",
        headers=seller.auth,
        data={
            "name": "Ajrak",
            "description": "Block print",
            "condition": "new",
            "starting_price": "٢٥٠٠",
            "start_time": iso(timedelta()),
            "end_time": iso(timedelta(days=1)),
        },
    )
    assert (response.status_code, response.json()) == (
        400,
        {"starting_price": ["A valid number is required."]},
    )
    assert await Auction.count() == 0
