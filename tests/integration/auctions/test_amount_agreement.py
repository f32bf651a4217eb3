"""The socket and REST read a bid's money by one rule (``money.parse_amount`` on the JSON value
as written): the same text is accepted by both, at the same amount, or refused by both, and a
refusal changes nothing. The rule is the REST contract's ("a JSON number or a numeric string";
more than 2 decimals, more than 10 digits, NaN, Infinity, negatives and zero refused) and
``max_amount`` "follows every money rule" (docs/auction-rules.md § 6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.auctions.test_auction_socket import state
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction
from tests.integration.sockets import watch

pytestmark = pytest.mark.usefixtures("task_worker")

START = (Decimal("2500.00"), 0, 0)  # a fresh auction: its price, bid count, and no bid rows

# The amount as JSON text, and the amount recorded (None: refused). Every accepted one is above
# the starting price, so a refusal can only be the money rule's.
AMOUNTS = [
    ("3000", "3000.00"),
    ("3000.5", "3000.50"),
    ("3000.50", "3000.50"),
    ("3e3", "3000.00"),
    ('"3000"', "3000.00"),
    ('"3000.50"', "3000.50"),
    ('" 3000 "', "3000.00"),
    ('"3e3"', "3000.00"),
    ("99999999.99", "99999999.99"),
    # Read as written: through a float this would be 3000.0 and accepted.
    ("3000.0000000000000001", None),
    ('"3000.0000000000000001"', None),
    ("3000.001", None),
    ('"3000.001"', None),
    ("100000000", None),
    ('"100000000"', None),
    ("1e400", None),
    ('"1e400"', None),
    ("0", None),
    ('"0"', None),
    ("-3000", None),
    ('"-3000"', None),
    ('"NaN"', None),
    ('"Infinity"', None),
    ('"abc"', None),
    ('""', None),
    ('"4_000"', None),
    ('"٤٠٠٠"', None),
    ("true", None),
    ("null", None),
    ("[3000]", None),
    ('{"value": 3000}', None),
]


async def _over_rest(client: httpx.AsyncClient, auction: int, buyer: UserHandle, body: str) -> Any:
    response = await client.post(
        f"/api/auctions/{auction}/place_bid/",
        content=body.encode(),
        headers={**buyer.auth, "content-type": "application/json"},
    )
    return response.status_code, response.json()


async def _over_socket(live_server: LiveServer, auction: int, buyer: UserHandle, frame: str) -> Any:
    async with watch(live_server.url, auction, buyer.token) as ws:
        await ws.send(frame)
        return await ws.receive()


@pytest.mark.parametrize(("raw", "recorded"), AMOUNTS, ids=[raw for raw, _ in AMOUNTS])
async def test_socket_and_rest_agree_on_the_amount(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    seller: UserHandle,
    buyer: UserHandle,
    raw: str,
    recorded: str | None,
) -> None:
    by_rest, by_socket = await make_auction(seller), await make_auction(seller)
    status, body = await _over_rest(client, by_rest, buyer, f'{{"amount": {raw}}}')
    reply = await _over_socket(
        live_server, by_socket, buyer, f'{{"type": "place_bid", "amount": {raw}}}'
    )
    if recorded is None:
        assert status == 400 and list(body) == ["amount"], body
        assert reply["type"] == "error" and reply["code"] == "invalid_amount", reply
        assert reply["message"] == "Invalid bid amount"
        assert await state(by_rest) == START and await state(by_socket) == START
    else:
        assert (status, body["amount"]) == (201, recorded), body
        assert (reply["type"], reply["data"]["amount"]) == ("new_bid", recorded), reply
        price = Decimal(recorded)
        assert (await state(by_rest))[:2] == (price, 1)
        assert (await state(by_socket))[:2] == (price, 1)


# ``max_amount``: the same money rule, checked after the amount.
MAXIMA = [
    ('"5000.00"', True),
    ("5000", True),
    ("5000.001", False),
    ('"5000.001"', False),
    ('"abc"', False),
    ("0", False),
    ("true", False),
]


@pytest.mark.parametrize(("raw", "valid"), MAXIMA, ids=[raw for raw, _ in MAXIMA])
async def test_socket_and_rest_agree_on_the_maximum(
    client: httpx.AsyncClient,
    live_server: LiveServer,
    seller: UserHandle,
    buyer: UserHandle,
    raw: str,
    valid: bool,
) -> None:
    by_rest, by_socket = await make_auction(seller), await make_auction(seller)
    status, body = await _over_rest(
        client, by_rest, buyer, f'{{"amount": 3000, "max_amount": {raw}}}'
    )
    reply = await _over_socket(
        live_server,
        by_socket,
        buyer,
        f'{{"type": "place_bid", "amount": 3000, "max_amount": {raw}}}',
    )
    if valid:
        assert status == 201 and reply["type"] == "new_bid", (body, reply)
        assert (await state(by_rest))[:2] == (await state(by_socket))[:2] == (Decimal(3000), 1)
    else:
        assert status == 400 and list(body) == ["max_amount"], body
        assert (reply["type"], reply["code"]) == ("error", "invalid_max_amount"), reply
        assert reply["message"] == "Invalid maximum bid amount"
        assert await state(by_rest) == START and await state(by_socket) == START
