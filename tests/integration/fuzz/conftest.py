"""What both fuzzers share (issue #20, "Never a 500"): their server, their budget, their cast.

The fuzzers are synchronous Hypothesis tests (schemathesis calls the server with ``requests``),
and the suite's own server runs on the test loop, which stands still while such a test runs. So
they talk to the app in a uvicorn process of its own (``tests/integration/servers.py``), started
with the WebSocket protocol ``madeinpk serve`` uses, on the suite's database and services.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from madeinpk.accounts.tables import Role
from madeinpk.accounts.tokens import issue_token
from madeinpk.auctions.tables import Auction
from madeinpk.cli import LEAN_WEBSOCKETS
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_order, make_user
from tests.integration.servers import WebServer

# Examples per REST operation and kind of request (ten times as many frame sequences per socket,
# they are cheap); CI keeps the default small, a hunt raises it (README, "Test").
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))


@pytest.fixture(scope="package")
async def fuzz_server(
    test_env: dict[str, str], live_server: LiveServer
) -> AsyncIterator[WebServer]:
    server = WebServer(test_env, "--ws", LEAN_WEBSOCKETS, "--ws-per-message-deflate", "false")
    server.start()
    try:
        await server.ready()
        yield server
    finally:
        server.kill()


@dataclass
class Cast:
    """Who and what the generated requests and frames meet: ids that exist, tokens that work."""

    buyer: UserHandle
    seller: UserHandle
    auction: int
    product: int
    order: int
    # More login keys of each user, for Logout to revoke (user id -> keys not yet spent).
    spare_tokens: dict[int, list[str]]

    @property
    def path_ids(self) -> dict[str, int]:
        """Path parameters naming rows that exist (the generated ones rarely do)."""
        return {
            "auction_id": self.auction,
            "product_id": self.product,
            "order_id": self.order,
            "user_id": self.seller.id,
        }


@pytest.fixture
async def cast(live_server: LiveServer) -> Cast:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction = await make_auction(seller, images=1, min_increment="10.00", soft_close_seconds=30)
    order = await make_order(seller, buyer)
    product = await Auction.select(Auction.product).where(Auction.id == auction).first()
    assert product is not None
    spare_tokens = {
        user.id: [
            await issue_token(user.id, live_server.settings) for _ in range(FUZZ_EXAMPLES * 3)
        ]
        for user in (buyer, seller)
    }
    return Cast(
        buyer=buyer,
        seller=seller,
        auction=auction,
        product=product["product"],
        order=order,
        spare_tokens=spare_tokens,
    )
