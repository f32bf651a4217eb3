"""Why a bid is refused, in the customer's words: the refusal reasons (the
protocol's ``error.code``) and their texts, the idempotency key's form, and ``refusal``. One
source for both transports (docs/websocket.md, docs/rest-api.md)."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import Enum

import msgspec

from madeinpk.money import format_money


class Reason(str, Enum):
    """Why a bid was refused: the ``error.code`` of the protocol."""

    not_found = "not_found"
    unauthenticated = "unauthenticated"
    blocked = "blocked"
    not_active = "not_active"
    not_started = "not_started"
    own_auction = "own_auction"
    too_low = "too_low"
    below_increment = "below_increment"
    invalid_amount = "invalid_amount"
    invalid_max_amount = "invalid_max_amount"
    rate_limited = "rate_limited"
    invalid_message = "invalid_message"
    idempotency_conflict = "idempotency_conflict"
    internal = "internal"
    # Buy It Now (docs/auction-rules.md, "Buy It Now")
    no_buy_now = "no_buy_now"
    buy_now_closed = "buy_now_closed"
    # Removing a bid (docs/auction-rules.md § 10)
    unknown_bid = "unknown_bid"
    already_removed = "already_removed"
    automatic_bid = "automatic_bid"
    staff_only = "staff_only"
    not_your_bid = "not_your_bid"
    retraction_off = "retraction_off"
    retract_too_late = "retract_too_late"
    last_hour = "last_hour"


# The customer's wording, word for word (docs/websocket.md); {price} is the current price.
MESSAGES = {
    Reason.not_found: "Auction not found",
    Reason.unauthenticated: "You must be authenticated to place a bid",
    Reason.blocked: "Your account is blocked",
    Reason.not_active: "Auction is not active",
    Reason.not_started: "Auction has not started yet",
    Reason.own_auction: "You cannot bid on your own auction",
    Reason.too_low: "Bid must be higher than current price of {price}",
    Reason.below_increment: "Bid must be at least {price}",
    Reason.invalid_amount: "Invalid bid amount",
    Reason.invalid_max_amount: "Maximum bid must be at least the bid amount",
    Reason.rate_limited: "Too many bids, slow down",
    Reason.idempotency_conflict: "Idempotency key reused with a different bid",
    Reason.internal: "Your bid could not be processed, please try again",
    Reason.no_buy_now: "This auction has no Buy It Now price",
    Reason.buy_now_closed: "Buy It Now is no longer available on this auction",
    Reason.unknown_bid: "Bid not found",
    Reason.already_removed: "This bid has already been removed",
    Reason.automatic_bid: "Automatic bids cannot be removed: remove the bid that set the maximum",
    Reason.staff_only: "Only staff may remove another bidder's bid",
    Reason.not_your_bid: "You can only retract your own bid",
    Reason.retraction_off: "Bid retraction is not allowed on this site",
    Reason.retract_too_late: "A bid can only be retracted within {seconds} seconds of placing it",
    Reason.last_hour: "Bids cannot be retracted in the last hour of an auction",
}


# Buy It Now's words for the codes it shares with bids.
BUY_OWN_AUCTION = "You cannot buy your own auction"
BUY_UNAUTHENTICATED = "You must be authenticated to buy"

# ``Reason.invalid_max_amount``'s words when the maximum is no valid amount at all (MESSAGES has
# them for a valid one below the bid).
INVALID_MAX_AMOUNT = "Invalid maximum bid amount"

# The client's idempotency key (``bid_id`` over the socket, ``Idempotency-Key`` over REST).
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEY_ALPHABET = "1-64 characters of A-Z a-z 0-9 _ -"
INVALID_BID_ID = f"Invalid bid_id: use {KEY_ALPHABET}"
INVALID_IDEMPOTENCY_KEY = f"Invalid Idempotency-Key header: use {KEY_ALPHABET}"


class Refused(msgspec.Struct, frozen=True, tag="refused"):
    reason: Reason
    message: str


def refusal(reason: Reason, price: Decimal | None = None) -> Refused:
    text = MESSAGES[reason]
    return Refused(reason, text.format(price=format_money(price)) if price is not None else text)
