"""Email templates. Texts follow the customer's documents word for word where they give one."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    subject: Template
    body: Template

    def render(self, **values: str) -> tuple[str, str]:
        return self.subject.substitute(values), self.body.substitute(values)


OUTBID = EmailTemplate(
    subject=Template("You have been outbid on $product"),
    body=Template(
        """Dear $username,

You have been outbid on the auction for $product.

New highest bid: Rs. $amount

If you're still interested, you can place a higher bid to regain the lead.

Log in to your MadeInPK account to view the auction and place a new bid.

Thank you for using MadeInPK!
"""
    ),
)


AUCTION_WON = EmailTemplate(
    subject=Template("You won the auction for $product"),
    body=Template(
        """Dear $username,

Congratulations! You won the auction for $product with a bid of Rs. $amount.

Your order number is $order_number. Please complete payment within $hours hours:
$payment_url

If payment is not received by the deadline the order is cancelled and counted as a missed payment.

Thank you for using MadeInPK!
"""
    ),
)

AUCTION_LOST = EmailTemplate(
    subject=Template("The auction for $product has ended"),
    body=Template(
        """Dear $username,

The auction for $product has ended. The winning bid was Rs. $amount.

Thank you for bidding. Many more handmade pieces are waiting for you on MadeInPK.

Thank you for using MadeInPK!
"""
    ),
)

RESERVE_NOT_MET = EmailTemplate(
    subject=Template("The auction you led has ended without a sale"),
    body=Template(
        """Dear $username,

$message

Thank you for bidding. Many more handmade pieces are waiting for you on MadeInPK.

Thank you for using MadeInPK!
"""
    ),
)

AUCTION_ENDED_SELLER = EmailTemplate(
    subject=Template("Your auction for $product has ended"),
    body=Template(
        """Dear $username,

$outcome

Thank you for selling on MadeInPK!
"""
    ),
)

PAYMENT_RECEIVED = EmailTemplate(
    subject=Template("Payment received for order $order_number"),
    body=Template(
        """Dear $username,

Payment of Rs. $amount for order $order_number ($product) has been received.

$next_step

Thank you for using MadeInPK!
"""
    ),
)

ACCOUNT_BLOCKED = EmailTemplate(
    subject=Template("Your MadeInPK account has been blocked"),
    body=Template(
        """Dear $username,

Your account has been blocked due to $count failed payments.

You can still sign in and read your orders, but you can no longer bid. Contact MadeInPK
support if you believe this is a mistake.

MadeInPK
"""
    ),
)

AUCTION_ENDING_SOON = EmailTemplate(
    subject=Template("The auction for $product ends soon"),
    body=Template(
        """Dear $username,

The auction for $product ends in $minutes minutes, at $end_time UTC.

Current price: Rs. $amount

$standing

View the auction: $auction_url

Thank you for using MadeInPK!
"""
    ),
)

AUCTION_STARTED = EmailTemplate(
    subject=Template("The auction for $product has started"),
    body=Template(
        """Dear $username,

The auction you are watching for $product has started. Bidding opens at Rs. $amount.

Log in to your MadeInPK account to view the auction and place a bid.

Thank you for using MadeInPK!
"""
    ),
)

# --- second-chance offers (docs/auction-rules.md § Second-chance offer) ------------------------

SECOND_CHANCE_OFFER = EmailTemplate(
    subject=Template("A second chance to buy $product"),
    body=Template(
        """Dear $username,

The winner of the auction for $product did not pay in time. The seller offers you the item at
your highest bid, Rs. $amount.

Accept or decline the offer in your MadeInPK account before $expires_at. If you accept, you will
have $hours hours to pay.

Thank you for using MadeInPK!
"""
    ),
)

OFFER_ANSWERED = EmailTemplate(
    subject=Template("Your second-chance offer for $product was $outcome"),
    body=Template(
        """Dear $username,

$bidder has $outcome your second-chance offer for $product at Rs. $amount.
$next_step

Thank you for using MadeInPK!
"""
    ),
)
