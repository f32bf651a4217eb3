"""``GET /schema/asyncapi.json``: a valid AsyncAPI 3.0 document of the auction WebSocket, every
message both ways, and real frames from a real socket match the payload schemas it gives."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import websockets

from madeinpk.accounts.tables import Role
from madeinpk.auctions.live.messages import ClientMessage
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import make_auction, make_user
from tests.integration.sockets import socket_url

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

OFFICIAL_SCHEMA = Path(__file__).parents[1] / "data" / "asyncapi-3.0.0.schema.json"
CLIENT = {"place_bid", "buy_now", "ping", "retract_bid"}
SERVER = {
    "auction_status", "new_bid", "auction_extended", "auction_ended", "bid_accepted", "error",
    "pong", "auction_started", "buy_now_accepted", "bid_removed",
}  # fmt: skip
# Frames of removing a bid are checked against the document in test_bid_removal.py.
REMOVAL = {"bid_removed"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            *([node["$ref"]] if isinstance(node.get("$ref"), str) else []),
            *(r for v in node.values() for r in refs(v)),
        ]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def payload_validator(document: dict[str, Any], message: str) -> jsonschema.Validator:
    """The message's payload schema, with the document's components to resolve against."""
    payload = resolve(document, f"#/components/messages/{message}")["payload"]
    root = {"components": document["components"], **payload}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


async def test_the_document_is_valid_asyncapi_3(
    document: dict[str, Any], live_server: LiveServer
) -> None:
    official = json.loads(OFFICIAL_SCHEMA.read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(official).iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["this"]["host"] == live_server.url.removeprefix("http://")
    assert document["servers"]["this"]["protocol"] == "ws"
    for ref in refs(document):  # every reference lands inside the document
        assert resolve(document, ref) is not None, ref
    # The official schema does notice a broken document.
    broken = {**document, "operations": {"placeBid": {"action": "shout"}}}
    assert list(jsonschema.Draft7Validator(official).iter_errors(broken))


async def test_every_message_both_ways_is_described(document: dict[str, Any]) -> None:
    channel = document["channels"]["auction"]
    assert channel["address"] == "/ws/auction/{auction_id}/"
    assert set(channel["messages"]) == CLIENT | SERVER
    # The client messages are exactly the ones the server decodes.
    tags = {t.__struct_config__.tag for t in ClientMessage.__args__}
    assert tags == CLIENT
    received: set[str] = set()
    sent: set[str] = set()
    for operation in document["operations"].values():
        names = {m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]}
        (received if operation["action"] == "receive" else sent).update(names)
        if "reply" in operation:
            sent.update(m["$ref"].rsplit("/", 1)[1] for m in operation["reply"]["messages"])
    assert (received, sent) == (CLIENT, SERVER)
    for name in CLIENT | SERVER:
        schema = resolve(document, resolve(document, f"#/components/messages/{name}")["payload"][
            "$ref"
        ])  # fmt: skip
        assert schema["properties"]["type"] == {"enum": [name]}
        if name in SERVER:
            assert "server_time" in schema["required"], name


async def test_real_frames_match_the_documented_payloads(
    document: dict[str, Any], live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(
        seller, ends_in=timedelta(seconds=2), soft_close_seconds=3, images=1
    )
    async with websockets.connect(socket_url(live_server.url, auction_id, buyer.token)) as ws:
        frames: list[dict[str, Any]] = [json.loads(await ws.recv())]
        sent: list[dict[str, Any]] = [
            {"type": "ping"},
            {"type": "place_bid", "amount": 2400},
            {"type": "place_bid", "amount": 2600, "max_amount": 2700.5, "bid_id": "b-1"},
        ]
        for frame in sent:
            await ws.send(json.dumps(frame))
        await live_server.schedule_auction_end(auction_id, utc_now() + timedelta(seconds=3))
        while frames[-1]["type"] != "auction_ended":
            frames.append(json.loads(await ws.recv()))
    kinds = [f["type"] for f in frames]
    # auction_started (a scheduled auction) is checked in test_scheduled_start.py; Buy It
    # Now's in the next test; bid_removed in test_bid_removal.py.
    assert set(kinds) == SERVER - {"auction_started", "buy_now_accepted"} - REMOVAL, kinds
    for frame in frames:
        errors = [e.message for e in payload_validator(document, frame["type"]).iter_errors(frame)]
        assert errors == [], (frame, errors)
    for frame in sent:
        assert not list(payload_validator(document, frame["type"]).iter_errors(frame)), frame
    # And the schemas are strict enough to notice a frame that is not the protocol's.
    new_bid = next(f for f in frames if f["type"] == "new_bid")
    broken = {**new_bid, "data": {**new_bid["data"], "amount": 2600}}
    assert list(payload_validator(document, "new_bid").iter_errors(broken))


async def test_real_buy_now_frames_match_the_documented_payloads(
    document: dict[str, Any], live_server: LiveServer
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller, buy_now_price="5000.00")
    sent = [{"type": "buy_now", "bid_id": "b-1"}, {"type": "buy_now"}]
    async with websockets.connect(socket_url(live_server.url, auction_id, buyer.token)) as ws:
        frames: list[dict[str, Any]] = [json.loads(await ws.recv())]
        for frame in sent:
            await ws.send(json.dumps(frame))
        while len(frames) < 4:  # auction_status, auction_ended, buy_now_accepted, error
            frames.append(json.loads(await ws.recv()))
    assert [f["type"] for f in frames] == [
        "auction_status",
        "auction_ended",
        "buy_now_accepted",
        "error",
    ]
    assert frames[1]["data"]["buy_now"] is True
    for frame in [*frames, *sent]:
        errors = [e.message for e in payload_validator(document, frame["type"]).iter_errors(frame)]
        assert errors == [], (frame, errors)
