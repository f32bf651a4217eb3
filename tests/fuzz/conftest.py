"""What both fuzzers share (issue #20, "Never a 500"): their server, their budget, their cast.

The fuzzers are synchronous Hypothesis tests (schemathesis calls the server with ``requests``),
and the suite's own server runs on the test loop, which stands still while such a test runs. So
they talk to the app in a uvicorn process of its own (``tests/servers.py``), started with the
WebSocket protocol ``madeinpk serve`` uses, on the suite's database and services.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from madeinpk.accounts.tables import Role
from madeinpk.cli import LEAN_WEBSOCKETS
from tests.conftest import LiveServer
from tests.factories import UserHandle, make_auction, make_order, make_user
from tests.servers import WebServer

# Examples per REST operation and per socket kind; CI keeps the default small, a hunt raises it
# (README, "Test").
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
    order: int


@pytest.fixture
async def cast(live_server: LiveServer) -> Cast:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction = await make_auction(seller, images=1, min_increment="10.00", soft_close_seconds=30)
    order = await make_order(seller, buyer)
    return Cast(buyer=buyer, seller=seller, auction=auction, order=order)
