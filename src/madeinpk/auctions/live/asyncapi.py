"""``GET /schema/asyncapi.json``: the auction WebSocket as an AsyncAPI 3.0 document.

The payload schemas come from the very msgspec Structs the socket decodes and encodes
(``msgspec.json.schema_components``), so the document cannot drift from the wire; only the
channel and the operations around them are written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import MediaType, Request, get

from madeinpk.auctions.live.messages import (
    AuctionEnded,
    AuctionExtended,
    AuctionStarted,
    AuctionStatus,
    BidAccepted,
    BidRemoved,
    BuyNow,
    BuyNowAccepted,
    Error,
    NewBid,
    Ping,
    PlaceBid,
    Pong,
    RetractBid,
)

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "auction"
REF = "#/components/schemas/{name}"


@dataclass(frozen=True, slots=True)
class MessageDoc:
    name: str  # the ``type`` tag
    struct: type[msgspec.Struct]
    summary: str


CLIENT_MESSAGES = (
    MessageDoc("place_bid", PlaceBid, "Place a bid, optionally with a secret maximum."),
    MessageDoc("buy_now", BuyNow, "Buy It Now: end the auction at once at its buy_now_price."),
    MessageDoc("ping", Ping, "Heartbeat; answered with pong."),
    MessageDoc(
        "retract_bid",
        RetractBid,
        "Retract your own bid (within RETRACT_SECONDS, never in the last hour); answered with "
        "the broadcast bid_removed or an error.",
    ),
)
SERVER_MESSAGES = (
    MessageDoc("auction_status", AuctionStatus, "The whole auction, first on every connection."),
    MessageDoc(
        "auction_started",
        AuctionStarted,
        "A scheduled auction opened at its start time; to every watcher, before any new_bid.",
    ),
    MessageDoc("new_bid", NewBid, "A bid was recorded (manual or automatic); to every watcher."),
    MessageDoc(
        "auction_extended",
        AuctionExtended,
        "Soft close moved the end; right after the new_bid that caused it.",
    ),
    MessageDoc(
        "auction_ended",
        AuctionEnded,
        "The auction ended (with buy_now: true when bought with Buy It Now); to every watcher.",
    ),
    MessageDoc(
        "bid_removed",
        BidRemoved,
        "A bid was removed by staff or retracted by its bidder: price, leader and latest bids "
        "recomputed; to every watcher, replayable.",
    ),
    MessageDoc(
        "bid_accepted",
        BidAccepted,
        "To the sender alone: its place_bid was accepted (after the bid's own new_bid).",
    ),
    MessageDoc(
        "buy_now_accepted",
        BuyNowAccepted,
        "To the buyer alone: its buy_now was accepted (after the auction_ended it caused).",
    ),
    MessageDoc("error", Error, "To the sender alone: a refused frame, bid or purchase."),
    MessageDoc("pong", Pong, "The answer to ping."),
)
BROADCASTS = (
    "auction_status",
    "auction_started",
    "new_bid",
    "auction_extended",
    "auction_ended",
    "bid_removed",
)


def _ref(message: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{CHANNEL}/messages/{message}"}


def _operation(action: str, summary: str, messages: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{CHANNEL}"},
        "summary": summary,
        "messages": [_ref(m) for m in messages],
        **extra,
    }


def _reply(*messages: str) -> dict[str, Any]:
    return {"channel": {"$ref": f"#/channels/{CHANNEL}"}, "messages": [_ref(m) for m in messages]}


def build_document() -> dict[str, Any]:
    """Everything but ``servers``, which depends on where the document is served from."""
    docs = (*CLIENT_MESSAGES, *SERVER_MESSAGES)
    _, schemas = msgspec.json.schema_components([d.struct for d in docs], ref_template=REF)
    messages = {
        d.name: {
            "name": d.name,
            "title": d.name,
            "summary": d.summary,
            "contentType": "application/json",
            "payload": {"$ref": REF.format(name=d.struct.__name__)},
        }
        for d in docs
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "MadeInPK Live — auction WebSocket",
            "version": "1.0.0",
            "description": (
                "Watch one auction live and bid on it. Every frame is one JSON object in a text "
                "frame (client frames at most 4096 bytes); every server message carries "
                "server_time. Errors, close codes and rules: docs/websocket.md."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            CHANNEL: {
                "address": "/ws/auction/{auction_id}/",
                "title": "One auction",
                "description": (
                    "Connect with ?token=<login key> to bid; without it you watch as a "
                    "spectator. Close codes: 4401 invalid token, 4404 auction not found, 1009 "
                    "frame too big, 1013 too slow (reconnect)."
                ),
                "parameters": {"auction_id": {"description": "The auction's id."}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "A login key (POST /api/auth/login/)",
                                }
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "placeBid": _operation(
                "receive",
                "A watcher bids.",
                ["place_bid"],
                reply=_reply("bid_accepted", "error"),
            ),
            "buyNow": _operation(
                "receive",
                "A watcher buys with Buy It Now.",
                ["buy_now"],
                reply=_reply("buy_now_accepted", "error"),
            ),
            "ping": _operation("receive", "A heartbeat.", ["ping"], reply=_reply("pong")),
            "retractBid": _operation(
                "receive",
                "A bidder retracts its own bid.",
                ["retract_bid"],
                reply=_reply("bid_removed", "error"),
            ),
            **{
                f"send_{name}": _operation(
                    "send",
                    next(d.summary for d in SERVER_MESSAGES if d.name == name),
                    [name],
                )
                for name in BROADCASTS
            },
        },
        "components": {"schemas": schemas, "messages": messages},
    }


_DOCUMENT = build_document()


@get("/schema/asyncapi.json", include_in_schema=False, media_type=MediaType.JSON)
async def asyncapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    secure = request.url.scheme in ("https", "wss")
    server = {
        "host": request.url.netloc,
        "protocol": "wss" if secure else "ws",
        "description": "This server",
    }
    return {**_DOCUMENT, "servers": {"this": server}}
