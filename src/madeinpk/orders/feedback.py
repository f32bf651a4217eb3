"""Feedback on a shipped order, and the seller rating it feeds (kept in the same transaction)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from madeinpk.accounts.auth import Account
from madeinpk.accounts.tables import SellerProfile
from madeinpk.database import is_unique_violation, write_transaction
from madeinpk.http_errors import BusinessError, FieldErrors
from madeinpk.orders.schemas import FeedbackCreate
from madeinpk.orders.tables import Feedback, Order, OrderStatus
from madeinpk.timestamps import utc_now

RATINGS = ("seller_rating", "platform_rating", "communication_rating", "shipping_speed_rating")
FEEDBACK_OPEN = (OrderStatus.shipped.value, OrderStatus.delivered.value)


async def recompute_seller_rating(seller_id: int) -> None:
    """Mean of ``seller_rating`` over all feedback, 2 dp; call inside the changing transaction."""
    rows = await Feedback.select(Feedback.seller_rating).where(Feedback.seller == seller_id)
    count = len(rows)
    mean = (
        (Decimal(sum(r["seller_rating"] for r in rows)) / count).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        if count
        else Decimal("0.00")
    )
    await SellerProfile.update(
        {
            SellerProfile.average_rating: mean,
            SellerProfile.total_feedbacks: count,
            SellerProfile.updated_at: utc_now(),
        }
    ).where(SellerProfile.user == seller_id)


async def create_feedback(account: Account, data: FeedbackCreate) -> dict[str, Any]:
    errors = {
        field: ["Ensure this value is between 1 and 5."]
        for field in RATINGS
        if not 1 <= getattr(data, field) <= 5
    }
    for field in ("seller_comment", "platform_comment"):
        if len(getattr(data, field)) > 2000:
            errors[field] = ["Ensure this field has no more than 2000 characters."]
    if errors:
        raise FieldErrors(errors)
    order = (
        await Order.select(Order.buyer, Order.seller, Order.status, Order.order_type)
        .where(Order.id == data.order_id)
        .first()
    )
    if order is None or order["buyer"] != account.id or order["order_type"] != "auction":
        raise BusinessError("Order not found or you are not the buyer")
    if order["status"] not in FEEDBACK_OPEN:
        raise BusinessError("Order must be shipped before feedback")
    now = utc_now()
    try:
        async with write_transaction():
            rows = await Feedback.insert(
                Feedback(
                    order=data.order_id,
                    buyer=account.id,
                    seller=order["seller"],
                    seller_rating=data.seller_rating,
                    platform_rating=data.platform_rating,
                    communication_rating=data.communication_rating,
                    shipping_speed_rating=data.shipping_speed_rating,
                    seller_comment=data.seller_comment,
                    platform_comment=data.platform_comment,
                    product_as_described=data.product_as_described,
                    created_at=now,
                    updated_at=now,
                )
            ).returning(*Feedback.all_columns())
            await recompute_seller_rating(order["seller"])
    except Exception as exc:
        if is_unique_violation(exc):
            raise BusinessError("Feedback already submitted") from None
        raise
    return {**rows[0], "buyer_username": account.username}
