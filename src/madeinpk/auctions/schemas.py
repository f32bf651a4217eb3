"""Auction REST bodies: bids, the Auction body, the seller's options. Money fields are 2-dp
strings; datetimes encode as UTC with ``Z``. The socket's messages are in ``live.messages``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from madeinpk.auctions.bidding.rules import AuctionStatus
from madeinpk.catalog.schemas import CategoryId, Product, ProductDescription, ProductName
from madeinpk.catalog.tables import Condition
from madeinpk.db.database import MAX_ID
from madeinpk.http.bodies import field_options
from madeinpk.http.errors import REQUIRED
from madeinpk.money import AMOUNT_SCHEMA, Amount
from madeinpk.settings import MAX_SOFT_CLOSE_SECONDS
from madeinpk.timestamps import INSTANT_SCHEMA, Instant

# --- REST --------------------------------------------------------------------------------------


# Every JSON value reaches the money reader (``Amount``), which answers a bad one in DRF's words
# (null too: "A valid number is required.").
BidMoney = Annotated[
    Amount,
    msgspec.Meta(
        description="Bid amount: a JSON number or numeric string, > 0, at most 2 decimal places "
        "and 10 digits",
        examples=[3000.0],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]
MaxAmount = Annotated[
    Amount,
    msgspec.Meta(
        description="Optional secret maximum: the server bids for you up to it (proxy "
        "bidding). At least the amount; the same money rules; null: none.",
        examples=[4000.0],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]


class BidAmount(msgspec.Struct):
    """``amount`` is required (the handler says so, beside the fields' own errors)."""

    amount: BidMoney | UnsetType = UNSET
    max_amount: MaxAmount | None | UnsetType = UNSET


class Bid(msgspec.Struct):
    id: int
    bidder: int
    bidder_username: str
    amount: str
    bid_time: datetime
    is_winning: bool
    is_auto: bool  # placed by a proxy on its owner's behalf


class PlacedBid(Bid):
    """The answer to ``place_bid``: the caller's recorded bid, and where the auction stands."""

    is_leading: bool
    current_price: str


class MaximumUpdated(msgspec.Struct):
    """The answer to a leader's ``place_bid`` with a higher ``max_amount``: no bid recorded."""

    message: str
    max_amount: str
    current_price: str


class OrderInfo(msgspec.Struct):
    order_id: int
    order_number: str
    status: str
    payment_url: str
    total_amount: str
    seller_amount: str
    payment_deadline: datetime


class Purchased(msgspec.Struct):
    """The answer to ``buy_now``: the auction ended for the caller at ``price`` (its
    ``auction_ended`` event is ``seq``), and the order to pay."""

    message: str
    auction_id: int
    price: str
    seq: int
    order: OrderInfo


class Auction(msgspec.Struct):
    id: int
    product: Product
    starting_price: str
    current_price: str
    start_time: datetime
    end_time: datetime
    created_at: datetime
    status: AuctionStatus  # stored as its text; the type gives OpenAPI the enum
    winner: int | None
    winner_username: str | None
    winner_email: str | None  # only to the seller
    latest_bids: list[Bid]
    total_bids: int
    time_remaining: int  # seconds until end_time while active and started, else 0
    winning_bid_amount: str | None
    order_info: OrderInfo | None  # to the seller once ended
    # The derived fields (docs/rest-api.md § Auctions).
    min_increment: str  # the step in force now
    min_next_bid: str  # current_price + min_increment
    reserve_met: bool | None  # null: no reserve
    reserve_price: str | None  # to the seller only; null for everyone else
    soft_close_seconds: int
    seq: int  # the last event this state includes
    server_time: datetime
    my_max_bid: str | None  # the caller's own standing maximum; never anyone else's
    # Relisting (docs/rest-api.md § Relist): automatic relists left, the run before this one,
    # and the run after it (null until relisted).
    auto_relist: int
    relisted_from: int | None
    relisted_as: int | None
    # Watchlist (docs/rest-api.md § Watchlist and reminders): how many watch it; whether the
    # caller does (false without a login).
    watch_count: int = 0
    is_watching: bool = False
    # Whole seconds until a scheduled auction opens (0 once due); absent unless scheduled.
    starts_in: int | msgspec.UnsetType = msgspec.UNSET
    # Buy It Now (docs/auction-rules.md): its price (null: none), whether it can be used now,
    # whether the auction ended by it.
    buy_now_price: str | None = None
    buy_now_open: bool = False
    bought_now: bool = False


class Watching(msgspec.Struct):
    """The answer to watching an auction: where the caller's watch and the count stand."""

    auction_id: int
    is_watching: bool
    watch_count: int


# The auction's options (docs/auction-rules.md § 1). Absent keeps what is in force (the defaults on
# creation); null is "none" for the money ones. A form cannot send null: there an empty value is
# "none" (or the default), which the form's declarations say with ``blank_is_null``.
_MIN_INCREMENT = "Fixed step between bids (money), or null: the site's BID_INCREMENTS table "
_RESERVE_PRICE = "Secret lowest price the seller will sell at (money, at least the starting "
_SOFT_CLOSE = (
    f"0-{MAX_SOFT_CLOSE_SECONDS}: a bid with less than this many seconds left moves the end to "
    "bid time + this (default: the SOFT_CLOSE_SECONDS setting; 0 = off)"
)
MinIncrement = Annotated[
    Amount,
    msgspec.Meta(
        description=_MIN_INCREMENT + "applies (0.01 without one)",
        examples=["100.00"],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]
ReservePrice = Annotated[
    Amount,
    msgspec.Meta(
        description=_RESERVE_PRICE + "price), or null for none",
        examples=["30000.00"],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]
_BUY_NOW = (
    "Buy It Now: a buyer may end the auction at once at this price (money, higher than the "
    "starting price and at least the reserve) while no bid reached the reserve (without one: "
    "while the price is below it)"
)
BuyNowPrice = Annotated[
    Amount,
    msgspec.Meta(
        description=_BUY_NOW + "; null for none",
        examples=["45000.00"],
        extra_json_schema=AMOUNT_SCHEMA,
    ),
]
FormBuyNowPrice = Annotated[
    Amount,
    msgspec.Meta(
        description=_BUY_NOW + "; empty: none",
        examples=["45000.00"],
        extra_json_schema=AMOUNT_SCHEMA,
        extra=field_options(blank_is_null=True),
    ),
]
SoftCloseSeconds = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_SOFT_CLOSE_SECONDS,
        description=_SOFT_CLOSE,
        examples=[120],
        extra=field_options(text=True),  # read as DRF's IntegerField: " 12 ", "+12", "12.0"
    ),
]
MAX_AUTO_RELIST = 3
_AUTO_RELIST = (
    f"0-{MAX_AUTO_RELIST}: if the auction ends without a sale it is relisted by itself with the "
    "same duration, up to this many times (default 0: never)"
)
AutoRelist = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_AUTO_RELIST,
        description=_AUTO_RELIST,
        examples=[1],
        extra=field_options(text=True),
    ),
]
FormAutoRelist = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_AUTO_RELIST,
        description=_AUTO_RELIST + "; empty: 0",
        examples=[1],
        extra=field_options(text=True, blank_is_null=True),
    ),
]
FormMinIncrement = Annotated[
    Amount,
    msgspec.Meta(
        description=_MIN_INCREMENT + "applies; empty: none",
        examples=["100.00"],
        extra_json_schema=AMOUNT_SCHEMA,
        extra=field_options(blank_is_null=True),
    ),
]
FormReservePrice = Annotated[
    Amount,
    msgspec.Meta(
        description=_RESERVE_PRICE + "price); empty: none",
        examples=["30000.00"],
        extra_json_schema=AMOUNT_SCHEMA,
        extra=field_options(blank_is_null=True),
    ),
]
FormSoftCloseSeconds = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_SOFT_CLOSE_SECONDS,
        description=_SOFT_CLOSE + "; empty: the default",
        examples=[120],
        extra=field_options(text=True, blank_is_null=True),
    ),
]


# The auction's terms as a client sends them (JSON, or a form's strings). An empty value is a
# missing one, as a form sends it; the cross-field rules (end after start and after now, at most
# 30 days) are the selling service's.
PRODUCT_NOT_FOUND = "Product not found"
ProductId = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_ID,
        description="An own product without a listing",
        examples=[42],
        extra=field_options(
            null=REQUIRED, min_value=PRODUCT_NOT_FOUND, max_value=PRODUCT_NOT_FOUND
        ),
    ),
]
StartingPrice = Annotated[
    Amount,
    msgspec.Meta(
        description="Rupees: a JSON number or a numeric string, > 0, at most 2 decimal places "
        "and 10 digits",
        examples=["2500.00"],
        extra_json_schema=AMOUNT_SCHEMA,
        extra=field_options(blank=REQUIRED),
    ),
]
TermTime = Annotated[
    Instant,
    msgspec.Meta(
        description="ISO-8601; a time without an offset is UTC",
        examples=["2025-10-27T18:32:00Z"],
        extra_json_schema=INSTANT_SCHEMA,
        extra=field_options(null=REQUIRED, blank=REQUIRED),
    ),
]


class AuctionCreate(msgspec.Struct):
    """JSON creation from an own product without a listing. ``starting_price``, ``start_time``
    and ``end_time`` are required (the service says so, beside the fields' own errors)."""

    product_id: ProductId | UnsetType = UNSET
    starting_price: StartingPrice | UnsetType = UNSET
    start_time: TermTime | UnsetType = UNSET
    end_time: TermTime | UnsetType = UNSET
    min_increment: MinIncrement | None | UnsetType = UNSET
    reserve_price: ReservePrice | None | UnsetType = UNSET
    soft_close_seconds: SoftCloseSeconds | UnsetType = UNSET
    buy_now_price: BuyNowPrice | None | UnsetType = UNSET
    auto_relist: AutoRelist | UnsetType = UNSET


class AuctionCreateForm(msgspec.Struct):
    """Multipart creation in one step: product, images and auction together."""

    name: ProductName
    description: ProductDescription
    starting_price: StartingPrice
    start_time: TermTime
    end_time: TermTime
    condition: Condition = Condition.new
    category: CategoryId | None = None
    images: list[bytes] = msgspec.field(default_factory=list)
    # Options: an empty value is "none" (a form cannot send null); read by ``AuctionOptionsForm``.
    min_increment: FormMinIncrement | None = None
    reserve_price: FormReservePrice | None = None
    soft_close_seconds: FormSoftCloseSeconds | None = None
    buy_now_price: FormBuyNowPrice | None = None
    auto_relist: FormAutoRelist | None = None


class AuctionUpdate(msgspec.Struct):
    """PUT and PATCH alike change what is sent; the rest stays. (The one-step form's auction
    fields are read through this Struct too.)"""

    starting_price: StartingPrice | UnsetType = UNSET
    start_time: TermTime | UnsetType = UNSET
    end_time: TermTime | UnsetType = UNSET
    min_increment: MinIncrement | None | UnsetType = UNSET
    reserve_price: ReservePrice | None | UnsetType = UNSET
    soft_close_seconds: SoftCloseSeconds | UnsetType = UNSET
    buy_now_price: BuyNowPrice | None | UnsetType = UNSET
    auto_relist: AutoRelist | UnsetType = UNSET


class AuctionOptions(msgspec.Struct):
    """The options alone, as JSON and the admin send them (``AuctionUpdate``'s)."""

    min_increment: MinIncrement | None | UnsetType = UNSET
    reserve_price: ReservePrice | None | UnsetType = UNSET
    soft_close_seconds: SoftCloseSeconds | UnsetType = UNSET
    buy_now_price: BuyNowPrice | None | UnsetType = UNSET
    auto_relist: AutoRelist | UnsetType = UNSET


class AuctionOptionsForm(msgspec.Struct):
    """The options alone, as the one-step form sends them (``AuctionCreateForm``'s): empty is
    none, or the default."""

    min_increment: FormMinIncrement | None | UnsetType = UNSET
    reserve_price: FormReservePrice | None | UnsetType = UNSET
    soft_close_seconds: FormSoftCloseSeconds | None | UnsetType = UNSET
    buy_now_price: FormBuyNowPrice | None | UnsetType = UNSET
    auto_relist: FormAutoRelist | None | UnsetType = UNSET


class AuctionRelist(msgspec.Struct):
    """``POST /api/auctions/{id}/relist/``: the new run's times (required, checked as at
    creation) and its own ``auto_relist``; product, price and options are the old run's."""

    start_time: TermTime | UnsetType = UNSET
    end_time: TermTime | UnsetType = UNSET
    auto_relist: AutoRelist | UnsetType = UNSET
