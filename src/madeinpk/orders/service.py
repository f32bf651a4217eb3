"""Orders: what a won auction becomes, how it is paid and shipped, and what a missed payment costs.

Every state change is one conditional UPDATE on the order's current status, so a double click, a
retried task or two workers can only ever move an order once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.languages import language_of, languages_of
from madeinpk.accounts.tables import UserProfile
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.schemas import OrderInfo
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.catalog.tables import Product
from madeinpk.db.database import write_transaction
from madeinpk.http.auth import Account
from madeinpk.http.errors import BusinessError, NotFound
from madeinpk.money import CENT, format_money, to_money
from madeinpk.notifications import texts
from madeinpk.notifications.emails import ACCOUNT_BLOCKED, PAYMENT_RECEIVED
from madeinpk.notifications.service import notify, queue_email
from madeinpk.notifications.tables import NotificationType
from madeinpk.orders.schemas import SellerStatistics
from madeinpk.orders.tables import Order, OrderStatus, PaymentViolation
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now


def new_order_number() -> str:
    return "AUC-" + secrets.token_hex(6).upper()


def payment_url(settings: Settings, order_number: str) -> str:
    return f"{settings.site_url}/orders/{order_number}/pay/"


def split_amount(total: Decimal, fee_rate: Decimal) -> tuple[Decimal, Decimal]:
    """(platform fee, seller amount), the fee rounded half-up to the cent."""
    fee = (total * fee_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return fee, total - fee


ORDER_COLUMNS = (
    "order_number", "buyer", "seller", "product", "auction", "unit_price", "total_amount",
    "platform_fee", "seller_amount", "shipping_address", "status", "payment_deadline",
    "created_at",
)  # fmt: skip


def auction_order_row(
    *,
    auction_id: int,
    product_id: int,
    buyer_id: int,
    seller_id: int,
    amount: Decimal,
    ended_at: datetime,
    address_id: int | None,
    settings: Settings,
    now: datetime,
) -> tuple[tuple[Any, ...], str]:
    """The order row of a won auction (``ORDER_COLUMNS``) and its number: for endings that
    insert many orders in one statement. A winner without an address still gets an order."""
    fee, seller_amount = split_amount(amount, settings.platform_fee)
    number = new_order_number()
    deadline = ended_at + timedelta(hours=settings.payment_deadline_hours)
    row = (
        number, buyer_id, seller_id, product_id, auction_id, amount, amount, fee, seller_amount,
        address_id, OrderStatus.pending_payment.value, deadline, now,
    )  # fmt: skip
    return row, number


async def _order(order_id: int) -> dict[str, Any]:
    row = (
        await Order.select(
            *Order.all_columns(),
            Order.product.name.as_alias("product_name"),
            Order.buyer.username.as_alias("buyer_username"),
            Order.buyer.email.as_alias("buyer_email"),
            Order.seller.username.as_alias("seller_username"),
            Order.seller.email.as_alias("seller_email"),
        )
        .where(Order.id == order_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def confirm_payment(order_id: int, account: Account, effects: Effects) -> None:
    """The seller (or an admin) records that the money arrived; both sides are told."""
    order = await _order(order_id)
    if account.id != order["seller"] and not account.is_admin:
        if account.id == order["buyer"]:
            raise BusinessError("Only the seller can confirm payment", 403)
        raise NotFound()
    now = utc_now()
    async with write_transaction():
        moved = (
            await Order.update({Order.status: OrderStatus.paid.value, Order.paid_at: now})
            .where((Order.id == order_id) & (Order.status == OrderStatus.pending_payment.value))
            .returning(Order.id)
        )
        if not moved:
            raise BusinessError("Only orders awaiting payment can be confirmed")
        if order["auction"] is not None:
            await Auction.update(
                {Auction.status: AuctionStatus.completed.value, Auction.updated_at: now}
            ).where(Auction.id == order["auction"])
        amount = to_money(order["total_amount"])
        spoken = await languages_of([order["buyer"], order["seller"]])
        emails = []
        for role, user_id, username, email, next_step in (
            ("buyer", order["buyer"], order["buyer_username"], order["buyer_email"],
             texts.NEXT_STEP_BUYER),
            ("seller", order["seller"], order["seller_username"], order["seller_email"],
             texts.NEXT_STEP_SELLER),
        ):  # fmt: skip
            language = spoken[user_id]
            await notify(
                user_id,
                NotificationType.payment_received,
                *texts.PAYMENT_RECEIVED.render(
                    language, amount=amount, order_number=order["order_number"]
                ),
                order_id=order_id,
                auction_id=order["auction"],
            )
            subject, body = PAYMENT_RECEIVED.render(
                language,
                username=username,
                amount=amount,
                order_number=order["order_number"],
                product=order["product_name"],
                next_step=next_step.render(language),
            )
            email_id = await queue_email(
                f"payment_received:{order_id}:{role}", email, subject, body
            )
            if email_id is not None:
                emails.append(email_id)
    effects.flush(AfterCommit(email_ids=emails))


async def mark_shipped(order_id: int, account: Account) -> None:
    order = await _order(order_id)
    if account.id != order["seller"]:
        if account.id == order["buyer"] or account.is_admin:
            raise BusinessError("Only seller can mark as shipped", 403)
        raise NotFound()
    now = utc_now()
    async with write_transaction():
        moved = (
            await Order.update({Order.status: OrderStatus.shipped.value, Order.shipped_at: now})
            .where((Order.id == order_id) & (Order.status == OrderStatus.paid.value))
            .returning(Order.id)
        )
        if not moved:
            raise BusinessError("Order must be paid first")
        await notify(
            order["buyer"],
            NotificationType.order_shipped,
            *texts.ORDER_SHIPPED.render(
                await language_of(order["buyer"]),
                order_number=order["order_number"],
                product=order["product_name"],
            ),
            order_id=order_id,
            auction_id=order["auction"],
        )


async def overdue_order_ids(limit: int = 500) -> list[int]:
    rows = (
        await Order.select(Order.id)
        .where(
            (Order.status == OrderStatus.pending_payment.value)
            & (Order.payment_deadline <= utc_now())
        )
        .order_by(Order.payment_deadline)
        .limit(limit)
    )
    return [r["id"] for r in rows]


async def expire_order(order_id: int, settings: Settings) -> list[int] | None:
    """A missed deadline: the order fails, the auction is cancelled, the buyer's count goes up,
    and at ``MAX_FAILED_PAYMENTS`` the buyer is blocked, all in one transaction. Returns the
    queued email ids, or None when another worker got there first."""
    now = utc_now()
    async with write_transaction():
        moved = (
            await Order.update({Order.status: OrderStatus.payment_failed.value})
            .where(
                (Order.id == order_id)
                & (Order.status == OrderStatus.pending_payment.value)
                & (Order.payment_deadline <= now)
            )
            .returning(Order.buyer, Order.auction, Order.order_number, Order.product)
        )
        if not moved:
            return None
        order = moved[0]
        if order["auction"] is not None:
            await Auction.update(
                {Auction.status: AuctionStatus.cancelled.value, Auction.updated_at: now}
            ).where(Auction.id == order["auction"])
        await PaymentViolation.insert(
            PaymentViolation(
                user=order["buyer"],
                order=order_id,
                reason=f"Payment for order {order['order_number']} not received by the deadline",
                created_at=now,
            )
        )
        counted = (
            await UserProfile.update(
                {UserProfile.failed_payment_count: UserProfile.failed_payment_count + 1}
            )
            .where(UserProfile.user == order["buyer"])
            .returning(UserProfile.failed_payment_count, UserProfile.is_blocked)
        )
        product = await Product.select(Product.name).where(Product.id == order["product"]).first()
        language = await language_of(order["buyer"])
        await notify(
            order["buyer"],
            NotificationType.general,
            *texts.PAYMENT_MISSED.render(
                language,
                order_number=order["order_number"],
                product=product["name"] if product else texts.YOUR_ITEM.render(language),
            ),
            order_id=order_id,
            auction_id=order["auction"],
        )
        if not counted:
            return []
        count = counted[0]["failed_payment_count"]
        if count < settings.max_failed_payments or counted[0]["is_blocked"]:
            return []
        await UserProfile.update({UserProfile.is_blocked: True}).where(
            UserProfile.user == order["buyer"]
        )
        # The count is the one this transaction just saved, not a re-read.
        await notify(
            order["buyer"],
            NotificationType.account_blocked,
            *texts.ACCOUNT_BLOCKED.render(language, count=count),
        )
        user = (
            await BaseUser.select(BaseUser.username, BaseUser.email)
            .where(BaseUser.id == order["buyer"])
            .first()
        )
        assert user is not None
        subject, body = ACCOUNT_BLOCKED.render(language, username=user["username"], count=count)
        email_id = await queue_email(f"account_blocked:{order_id}", user["email"], subject, body)
        return [email_id] if email_id is not None else []


async def expire_overdue_orders(settings: Settings, effects: Effects) -> int:
    """Expire every order past its deadline; then hand the emails to workers. Returns how many
    this call expired (another worker's share is not counted twice)."""
    expired = 0
    for order_id in await overdue_order_ids():
        outcome = await expire_order(order_id, settings)
        if outcome is None:
            continue
        expired += 1
        effects.flush(AfterCommit(email_ids=outcome))
    return expired


COMPLETED_SALE = (OrderStatus.paid.value, OrderStatus.shipped.value, OrderStatus.delivered.value)


async def sales_summary(user_id: int) -> tuple[int, int]:
    """(completed sales as seller, completed purchases as buyer): the profile's
    ``total_sales`` and ``total_purchases`` (``accounts.service.SalesSummary``)."""
    sales = await Order.count().where(
        (Order.seller == user_id) & Order.status.is_in(list(COMPLETED_SALE))
    )
    purchases = await Order.count().where(
        (Order.buyer == user_id) & Order.status.is_in(list(COMPLETED_SALE))
    )
    return sales, purchases


async def seller_statistics(account: Account) -> SellerStatistics:
    """The seller's dashboard: orders and earnings, with the products and live auctions."""
    orders = await Order.select(Order.status, Order.seller_amount, Order.paid_at).where(
        Order.seller == account.id
    )
    month_start = utc_now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    paid = [o for o in orders if o["status"] in COMPLETED_SALE]
    now = utc_now()
    return SellerStatistics(
        total_sales=len(paid),
        total_orders=len(orders),
        pending_orders=sum(o["status"] == OrderStatus.pending_payment.value for o in orders),
        total_revenue=format_money(
            sum((Decimal(str(o["seller_amount"])) for o in paid), Decimal(0))
        ),
        current_month_earnings=format_money(
            sum(
                (
                    Decimal(str(o["seller_amount"]))
                    for o in paid
                    if o["paid_at"] and o["paid_at"] >= month_start
                ),
                Decimal(0),
            )
        ),
        total_products=await Product.count().where(Product.seller == account.id),
        active_auctions=await Auction.count().where(
            (Auction.product.seller == account.id)
            & (Auction.status == AuctionStatus.active.value)
            & (Auction.end_time > now)
        ),
    )


async def auction_orders(auction_ids: list[int], settings: Settings) -> dict[int, OrderInfo]:
    """The orders of these auctions, by auction id, as their seller sees them in the auction
    body (``auctions.listing.AuctionOrders``): a run's latest (a second-chance order after a
    missed one, whose deadline is always the later)."""
    return {
        order["auction"]: OrderInfo(
            order_id=order["id"],
            order_number=order["order_number"],
            status=order["status"],
            payment_url=payment_url(settings, order["order_number"]),
            total_amount=format_money(order["total_amount"]),
            seller_amount=format_money(order["seller_amount"]),
            payment_deadline=order["payment_deadline"],
        )
        for order in await Order.select()
        .where(Order.auction.is_in(auction_ids))
        .order_by(Order.payment_deadline)
        .order_by(Order.id)
    }


class _AuctionOrders:
    """``auctions.lifecycle.outcomes.OrderWriter``: the order of a won auction."""

    table = Order
    columns = ORDER_COLUMNS

    def row(self, **fields: Any) -> tuple[tuple[Any, ...], str]:
        return auction_order_row(**fields)

    def payment_url(self, settings: Settings, order_number: str) -> str:
        return payment_url(settings, order_number)


AUCTION_ORDERS = _AuctionOrders()
