"""Notification tables: in-app notifications, and the outbox of emails.

An email is written to the outbox in the same transaction as the event that causes it; a task
then delivers it and marks it sent. So an email is never lost when a transaction commits and
never sent for one that rolls back, and ``dedupe_key`` makes "exactly once" a database rule.
"""

from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

# Notifications are the sink every domain writes to, so this module imports none of them: a
# notification points at its auction or order by a lazy reference (Piccolo resolves it once the
# auctions and orders tables are loaded; the database's foreign keys are the same).
AUCTION = LazyTableReference("Auction", module_path="madeinpk.auctions.tables")
ORDER = LazyTableReference("Order", module_path="madeinpk.orders.tables")


class NotificationType(str, Enum):
    bid_placed = "bid_placed"
    bid_outbid = "bid_outbid"
    auction_won = "auction_won"
    auction_lost = "auction_lost"
    auction_ended = "auction_ended"
    payment_reminder = "payment_reminder"
    payment_received = "payment_received"
    order_shipped = "order_shipped"
    order_delivered = "order_delivered"
    feedback_request = "feedback_request"
    message_received = "message_received"
    account_blocked = "account_blocked"
    auction_ending_soon = "auction_ending_soon"  # to watchers and bidders, ENDING_SOON_MINUTES
    auction_started = "auction_started"  # to the watchers of a scheduled auction that opened
    general = "general"
    bid_removed = "bid_removed"  # staff removed the user's bid (docs/auction-rules.md § 10)
    lead_regained = "lead_regained"  # a removal gave the user the lead
    # Second-chance offers (docs/auction-rules.md § Second-chance offer).
    second_chance_offer = "second_chance_offer"
    offer_accepted = "offer_accepted"
    offer_declined = "offer_declined"
    offer_expired = "offer_expired"
    # Relisting (docs/auction-rules.md § Relist).
    auction_relisted = "auction_relisted"


class Notification(Table):
    id: Serial  # the primary key Piccolo adds (every table here), declared for type checkers
    user = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade)
    notification_type = Varchar(length=30, choices=NotificationType)
    title = Varchar(length=200)
    message = Text()
    is_read = Boolean(default=False)
    # Any table to the type checker: this module may not import orders or auctions (above).
    order: ForeignKey[Table] = ForeignKey(ORDER, null=True, on_delete=OnDelete.set_null)
    auction: ForeignKey[Table] = ForeignKey(AUCTION, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class OutboxEmail(Table, tablename="outbox_email"):
    id: Serial
    dedupe_key = Varchar(length=200, unique=True)
    to_address = Varchar(length=255)
    subject = Varchar(length=255)
    body = Text()
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None, index=True)
    claimed_at = Timestamptz(null=True, default=None)  # a sender is on it (stale after a minute)
    attempts = Integer(default=0)
    last_error = Text(default="")
