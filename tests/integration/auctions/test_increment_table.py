"""The site-wide step table (``BID_INCREMENTS``) and the default soft close
(``SOFT_CLOSE_SECONDS``) end to end, on the app started with them in a process of its own: the
suite's server keeps the defaults every other test relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from madeinpk.catalog.tables import Product
from madeinpk.timestamps import utc_now
from tests.integration.auctions.test_auction_features import as_rows, connect, new_bid, rest_bid
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.servers import WebServer

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

INCREMENTS = "0:10,1000:50,5000:100,20000:500"


@pytest.fixture
async def alice(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


@pytest.fixture(scope="module")
def configured_server(test_env: dict[str, str]) -> Iterator[WebServer]:
    """The app with the site's step table and a default soft close, in a process of its own."""
    server = WebServer({**test_env, "BID_INCREMENTS": INCREMENTS, "SOFT_CLOSE_SECONDS": "90"})
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_the_site_increment_table_applies_by_price_band(
    configured_server: WebServer, live_server: LiveServer, seller: UserHandle, alice: UserHandle
) -> None:
    await configured_server.ready()
    bilal = await make_user(live_server.settings)
    auction_id = await make_auction(seller, starting_price="990.00")
    async with (
        httpx.AsyncClient(base_url=configured_server.url) as http,
        connect(configured_server.url, auction_id, alice) as (socket, status),
    ):
        assert (status["min_increment"], status["min_next_bid"]) == ("10.00", "1000.00")
        _, short = await socket.bid(995)
        assert (short["code"], short["message"]) == (
            "below_increment",
            "Bid must be at least 1000.00",
        )
        events, _ = await socket.bid(1000, 6000)  # from 1000 the step is 50
        assert events[0]["data"]["min_next_bid"] == "1050.00"
        body = (await http.get(f"/api/auctions/{auction_id}/")).json()
        assert (body["min_increment"], body["min_next_bid"]) == ("50.00", "1050.00")
        refused = await rest_bid(http, auction_id, bilal, "1049.99", None)
        assert refused.json() == {"amount": ["Bid must be at least 1050.00"]}
        # A's proxy answers at 5000 + inc(5000) = 5100: the step of the band the bid reached.
        placed = await rest_bid(http, auction_id, bilal, 5000, None)
        assert (placed.status_code, placed.json()["current_price"]) == (201, "5100.00")
        events = await socket.events(2)
        assert as_rows(events) == [
            new_bid(2, bilal, "5000.00", False),
            new_bid(3, alice, "5100.00", True),
        ]
        assert events[-1]["data"]["min_next_bid"] == "5200.00"
    # An auction's own increment wins over the table.
    own = await make_auction(seller, starting_price="990.00", min_increment="5.00")
    async with connect(configured_server.url, own, alice) as (socket, status):
        assert (status["min_increment"], status["min_next_bid"]) == ("5.00", "995.00")


async def test_new_auctions_take_the_default_soft_close_setting(
    configured_server: WebServer, live_server: LiveServer, seller: UserHandle
) -> None:
    await configured_server.ready()
    async with httpx.AsyncClient(base_url=configured_server.url) as http:
        for explicit, expected in ((None, 90), (0, 0), (600, 600)):
            rows = await Product.insert(
                Product(seller=seller.id, name="Ajrak", description="Block-printed.",
                        condition="new")
            ).returning(Product.id)  # fmt: skip
            body: dict[str, Any] = {
                "product_id": rows[0]["id"],
                "starting_price": "1500",
                "start_time": utc_now().isoformat(),
                "end_time": (utc_now() + timedelta(days=1)).isoformat(),
            }
            if explicit is not None:
                body["soft_close_seconds"] = explicit
            created = await http.post("/api/auctions/", json=body, headers=seller.auth)
            assert created.status_code == 201, created.text
            assert created.json()["soft_close_seconds"] == expected
            assert created.json()["min_increment"] == "50.00"  # the table's band at 1500
