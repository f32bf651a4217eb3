"""The auction socket's messages (docs/websocket.md, field for field): what a client sends
and what the server answers and broadcasts. Money fields are 2-dp strings; datetimes encode as
UTC with ``Z``. The REST bodies are in ``auctions.schemas``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from madeinpk.auctions.bidding.refusals import KEY_PATTERN

# The frames every socket shares, re-exported: the auction socket's protocol names them too.
from madeinpk.http.websocket import Error as Error
from madeinpk.http.websocket import Pong as Pong
from madeinpk.http.websocket import Time
from madeinpk.money import AMOUNT_SCHEMA, MAX_AMOUNT

# Wire types of the socket messages: what the AsyncAPI document says of each field.
Money = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]+\.[0-9]{2}$",
        description="Rupees as a decimal string with 2 places",
        examples=["3000.00"],
    ),
]
ClientNumber = Annotated[
    msgspec.Raw,
    msgspec.Meta(
        description="Rupees as a JSON number or numeric string: > 0, at most 2 decimal places, "
        f"at most {MAX_AMOUNT} (read exactly as sent, never through a float)",
        examples=[3000.0],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]

# --- client → server -----------------------------------------------------------------------


class PlaceBid(msgspec.Struct, tag="place_bid", tag_field="type"):
    """Bid on the auction (signed-in watchers only). Answered, to the sender alone, with
    ``bid_accepted`` (after the bid's own ``new_bid``) or ``error``."""

    # Kept raw: the exact number the client typed is checked, never rounded through a float.
    amount: ClientNumber = msgspec.field(default_factory=msgspec.Raw)
    # The client's idempotency key: a retry with the same key gets the first answer again.
    bid_id: Annotated[
        msgspec.Raw,
        msgspec.Meta(
            description="Optional safe-retry key, scoped to the bidder: a repeat within 24 "
            "hours changes nothing and gets the first answer again",
            extra_json_schema={"type": ["string", "null"], "pattern": f"^{KEY_PATTERN.pattern}$"},
        ),
    ] = msgspec.field(default_factory=msgspec.Raw)
    # A secret ceiling: the server bids for this bidder up to it (proxy bidding).
    max_amount: Annotated[
        msgspec.Raw,
        msgspec.Meta(
            description="Optional secret maximum: the server bids for you up to it (proxy "
            "bidding); at least amount, same money rules. From the leader it only raises "
            "the maximum",
            extra_json_schema={**AMOUNT_SCHEMA, "type": ["number", "string", "null"]},
        ),
    ] = msgspec.field(default_factory=msgspec.Raw)


class BuyNow(msgspec.Struct, tag="buy_now", tag_field="type"):
    """Buy It Now (signed-in watchers only): end the auction at once at its ``buy_now_price``.
    Answered, to the sender alone, with ``buy_now_accepted`` (after the ``auction_ended`` every
    watcher gets) or ``error``."""

    bid_id: Annotated[
        msgspec.Raw,
        msgspec.Meta(
            description="Optional safe-retry key, scoped to the buyer (the same keys as "
            "place_bid's): a repeat within 24 hours changes nothing and gets the first answer",
            extra_json_schema={"type": ["string", "null"], "pattern": f"^{KEY_PATTERN.pattern}$"},
        ),
    ] = msgspec.field(default_factory=msgspec.Raw)


class Ping(msgspec.Struct, tag="ping", tag_field="type"):
    """A heartbeat for clients behind proxies that drop idle sockets; answered with ``pong``."""


class RetractBid(msgspec.Struct, tag="retract_bid", tag_field="type"):
    """Retract one's own bid (docs/auction-rules.md § 10): within ``RETRACT_SECONDS`` of placing
    it, never in the last hour. Answered with the broadcast ``bid_removed``, or ``error``."""

    # The stored bid (REST ``Bid.id``); absent or null: the sender's latest bid on this auction.
    id: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                le=2_147_483_647,
                description="The bid's id (REST Bid.id); absent: your latest bid here",
            ),
        ]
        | None
    ) = None


# A real union, so the "type" tag is required: a lone tagged struct would decode without it.
ClientMessage = PlaceBid | BuyNow | Ping | RetractBid

# --- server → client -----------------------------------------------------------------------


class ImageRef(msgspec.Struct):
    url: str
    is_primary: bool
    order: int


class ProductInfo(msgspec.Struct):
    id: int
    name: str
    description: str
    condition: str
    category: str | None
    images: list[ImageRef]


class SellerInfo(msgspec.Struct):
    id: int
    username: str
    email: str | None  # null for anonymous spectators
    brand_name: str
    biography: str
    is_verified: bool
    average_rating: str
    total_feedbacks: int


class WinnerInfo(msgspec.Struct):
    id: int
    username: str


class BidInfo(msgspec.Struct):
    bidder: str
    amount: Money
    time: Time
    auto: bool  # placed by a proxy (an addition, like ``new_bid.data.auto``)


class AuctionStatusData(msgspec.Struct):
    auction_id: int
    product: ProductInfo
    seller: SellerInfo
    starting_price: Money
    current_price: Money
    start_time: Time
    end_time: Time
    status: str
    is_active: bool
    winner: WinnerInfo | None
    total_bids: int
    latest_bids: list[BidInfo]
    seq: int  # the last event this state includes: live events continue from seq + 1
    server_time: Time
    min_increment: Money  # the step in force now
    min_next_bid: Money  # current_price + min_increment: the lowest amount a new bid may have
    reserve_met: bool | None  # null: no reserve
    soft_close_seconds: int
    my_max_bid: Money | None  # the watcher's own standing maximum; never anyone else's
    # Whole seconds until a scheduled auction opens (0 once due); absent unless scheduled.
    starts_in: int | msgspec.UnsetType = msgspec.UNSET
    # Buy It Now: its price (null: none), whether it can be used now, whether it was used.
    buy_now_price: Money | None = None
    buy_now_open: bool = False
    bought_now: bool = False


class AuctionStatus(msgspec.Struct, tag="auction_status", tag_field="type"):
    data: AuctionStatusData
    server_time: Time


class NewBidData(msgspec.Struct):
    bidder: str
    amount: Money
    time: Time
    current_price: Money
    seq: int
    auto: bool
    total_bids: int
    min_next_bid: Money


class NewBid(msgspec.Struct, tag="new_bid", tag_field="type"):
    data: NewBidData
    server_time: Time


class AuctionEndedData(msgspec.Struct):
    auction_id: int
    winner: str | None
    final_price: Money
    status: str
    product_name: str
    message: str
    seq: int
    reserve_met: bool | None = None
    buy_now: bool | msgspec.UnsetType = msgspec.UNSET  # true when bought with Buy It Now only


class AuctionEnded(msgspec.Struct, tag="auction_ended", tag_field="type"):
    data: AuctionEndedData
    server_time: Time


class AuctionExtendedData(msgspec.Struct):
    auction_id: int
    end_time: Time
    seq: int


class AuctionExtended(msgspec.Struct, tag="auction_extended", tag_field="type"):
    """Soft close: a late bid moved the end (broadcast right after that bid's ``new_bid``)."""

    data: AuctionExtendedData
    server_time: Time


class AuctionStartedData(msgspec.Struct):
    auction_id: int
    seq: int
    start_time: Time
    end_time: Time


class AuctionStarted(msgspec.Struct, tag="auction_started", tag_field="type"):
    """A scheduled auction opened for bids: to every watcher, before any bid on it. ``seq`` is
    also at the top level, as the issue that asked for it says (the other events carry theirs
    in ``data``, where this one has it too)."""

    seq: int
    data: AuctionStartedData
    server_time: Time


class BidRemovedData(msgspec.Struct):
    bid_id: int  # the removed bid (REST ``Bid.id``)
    current_price: Money
    leader: str | None  # the leader's username now; null: no bids left
    seq: int
    auction_id: int
    removed: list[int]  # every bid this removal flagged: the bid, then those that went with it
    total_bids: int
    min_next_bid: Money
    latest_bids: list[BidInfo]  # as ``auction_status.data.latest_bids`` is now


class BidRemoved(msgspec.Struct, tag="bid_removed", tag_field="type"):
    """A bid was removed (by staff) or retracted (by its bidder): price, leader and maxima are
    recomputed from the bids left. ``seq`` is also at the top level, as the issue words it."""

    seq: int
    data: BidRemovedData
    server_time: Time


class BidAcceptedData(msgspec.Struct):
    bid_id: str | None
    amount: Money
    max_amount: Money | None
    is_leading: bool
    current_price: Money
    seq: int


class BidAccepted(msgspec.Struct, tag="bid_accepted", tag_field="type"):
    """To the sender only: its bid is recorded (every watcher also gets the ``new_bid``)."""

    data: BidAcceptedData
    server_time: Time


class BuyNowAcceptedData(msgspec.Struct):
    bid_id: str | None
    price: Money
    order_id: int
    order_number: str
    seq: int


class BuyNowAccepted(msgspec.Struct, tag="buy_now_accepted", tag_field="type"):
    """To the buyer only: it bought the item; the auction ended (every watcher got
    ``auction_ended`` with ``buy_now: true``) and its order was created."""

    data: BuyNowAcceptedData
    server_time: Time
