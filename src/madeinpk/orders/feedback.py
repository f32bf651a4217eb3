"""Feedback on a shipped order, and the seller rating it feeds (kept in the same transaction)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from madeinpk.accounts.tables import SellerProfile
from madeinpk.database import is_unique_violation, write_transaction
from madeinpk.http.auth import Account
from madeinpk.http.errors import (
    BusinessError,
    FieldErrors,
    NotFound,
    PermissionDenied,
)
from madeinpk.http.query import is_valid_id
from madeinpk.money import CENT
from madeinpk.orders.schemas import FeedbackCreate, FeedbackUpdate, SellerStats
from madeinpk.orders.tables import Feedback, Order, OrderStatus
from madeinpk.sql import dialect, raw
from madeinpk.timestamps import utc_now

RATINGS = ("seller_rating", "platform_rating", "communication_rating", "shipping_speed_rating")
FEEDBACK_OPEN = (OrderStatus.shipped.value, OrderStatus.delivered.value)


async def recompute_seller_rating(seller_id: int) -> None:
    """Mean of ``seller_rating`` over all feedback, 2 dp; call inside the changing transaction."""
    if dialect().postgres:
        # Two feedbacks for one seller committing at once would each count only their own row
        # (READ COMMITTED) and the last writer would win. Taking the profile row first orders
        # them: the second reads after the first commits. SQLite's IMMEDIATE write transaction
        # already runs them one at a time.
        await (
            SellerProfile.select(SellerProfile.id)
            .where(SellerProfile.user == seller_id)
            .lock_rows()
        )
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


# --- reading, editing and deleting feedback, and the seller's statistics ----------------------

FEEDBACK_COLUMNS = (*Feedback.all_columns(), Feedback.buyer.username.as_alias("buyer_username"))
COMMENT_LIMIT = 2000
TENTH = Decimal("0.1")


def _names_a_row(row_id: int | None) -> bool:
    # Ids are 32-bit serials on both engines; a larger one names nothing (and PostgreSQL would
    # refuse to compare it with an INTEGER column, a 500 instead of an empty answer).
    return row_id is None or is_valid_id(row_id)


async def list_feedback(
    seller_id: int | None, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, optionally for one seller (a user id)."""
    if not _names_a_row(seller_id):
        return 0, []
    count_query = Feedback.count()
    rows_query = Feedback.select(*FEEDBACK_COLUMNS)
    if seller_id is not None:
        count_query = count_query.where(Feedback.seller == seller_id)
        rows_query = rows_query.where(Feedback.seller == seller_id)
    count = await count_query
    rows = (
        await rows_query.order_by(Feedback.created_at, ascending=False)
        .order_by(Feedback.id, ascending=False)
        .offset(offset)
        .limit(limit)
    )
    return count, rows


async def get_feedback(feedback_id: int) -> dict[str, Any]:
    row = (
        await Feedback.select(*FEEDBACK_COLUMNS).where(Feedback.id == feedback_id).first()
        if _names_a_row(feedback_id)
        else None
    )
    if row is None:
        raise NotFound()
    return row


async def _authored(account: Account, feedback_id: int) -> dict[str, Any]:
    """The feedback, read inside the caller's transaction: 404 unknown, 403 not the author."""
    row = (
        await Feedback.select(Feedback.id, Feedback.buyer, Feedback.seller)
        .where(Feedback.id == feedback_id)
        .first()
        if _names_a_row(feedback_id)
        else None
    )
    if row is None:
        raise NotFound()
    if row["buyer"] != account.id:
        raise PermissionDenied()
    return row


def _update_changes(data: FeedbackUpdate) -> dict[Any, Any]:
    errors: dict[str, list[str]] = {}
    changes: dict[Any, Any] = {}
    for field in RATINGS:
        value = getattr(data, field)
        if isinstance(value, int):
            if not 1 <= value <= 5:
                errors[field] = ["Ensure this value is between 1 and 5."]
            changes[getattr(Feedback, field)] = value
    for field in ("seller_comment", "platform_comment"):
        value = getattr(data, field)
        if isinstance(value, str):
            if len(value) > COMMENT_LIMIT:
                errors[field] = [f"Ensure this field has no more than {COMMENT_LIMIT} characters."]
            changes[getattr(Feedback, field)] = value
    if isinstance(data.product_as_described, bool):
        changes[Feedback.product_as_described] = data.product_as_described
    if errors:
        raise FieldErrors(errors)
    return changes


async def update_feedback(
    account: Account, feedback_id: int, data: FeedbackUpdate
) -> dict[str, Any]:
    """Author only; the seller's rating is recomputed in the same transaction."""
    async with write_transaction():
        current = await _authored(account, feedback_id)
        changes = _update_changes(data)
        changes[Feedback.updated_at] = utc_now()
        rows = (
            await Feedback.update(changes)
            .where(Feedback.id == feedback_id)
            .returning(*Feedback.all_columns())
        )
        await recompute_seller_rating(current["seller"])
    return {**rows[0], "buyer_username": account.username}


async def delete_feedback(account: Account, feedback_id: int) -> None:
    """Author only; the seller's rating is recomputed in the same transaction."""
    async with write_transaction():
        current = await _authored(account, feedback_id)
        await Feedback.delete().where(Feedback.id == feedback_id)
        await recompute_seller_rating(current["seller"])


def _mean(total: int, count: int, places: Decimal) -> float:
    return float((Decimal(total) / count).quantize(places, rounding=ROUND_HALF_UP))


async def seller_stats(seller_id: int) -> SellerStats:
    """One aggregate query; the division and rounding happen here, in Decimal, on both engines."""
    row: dict[str, Any] = {"total": 0}
    if _names_a_row(seller_id):
        [row] = await raw(
            Feedback,
            f"""
            SELECT COUNT(*) AS total,
                   SUM(seller_rating) AS seller,
                   SUM(communication_rating) AS communication,
                   SUM(shipping_speed_rating) AS shipping,
                   SUM(CASE WHEN product_as_described THEN 1 ELSE 0 END) AS described
            FROM "{Feedback._meta.tablename}"
            WHERE seller = :seller
            """,
            seller=seller_id,
        )
    count = int(row["total"] or 0)
    if not count:
        return SellerStats(
            total_feedbacks=0,
            average_seller_rating=None,
            average_communication=None,
            average_shipping=None,
            product_as_described_percent=None,
        )
    return SellerStats(
        total_feedbacks=count,
        average_seller_rating=_mean(int(row["seller"]), count, CENT),
        average_communication=_mean(int(row["communication"]), count, CENT),
        average_shipping=_mean(int(row["shipping"]), count, CENT),
        product_as_described_percent=_mean(int(row["described"]) * 100, count, TENTH),
    )
