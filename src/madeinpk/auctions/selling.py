"""The seller's side of auctions: listing, changing and withdrawing them, and their figures.

Edits and deletions are conditional on ``bid_count = 0`` in the same statement, so a bid that
lands a moment earlier always wins over an edit that would change the terms under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from msgspec import UNSET

from madeinpk.accounts.auth import Account
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.schemas import AuctionCreate, AuctionUpdate, SellerStatistics
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.catalog.service import (
    check_category,
    check_images,
    insert_product,
    parse_product,
    prepared_images,
)
from madeinpk.catalog.tables import Product
from madeinpk.database import is_unique_violation, write_transaction
from madeinpk.http_errors import (
    REQUIRED,
    BusinessError,
    FieldErrorCollector,
    FieldErrors,
    NotFound,
    PermissionDenied,
)
from madeinpk.media import MediaWriter
from madeinpk.money import InvalidAmount, format_money, parse_amount
from madeinpk.orders.tables import Order, OrderStatus
from madeinpk.settings import Settings
from madeinpk.timestamps import as_utc, utc_now

MAX_DURATION = timedelta(days=30)
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


@dataclass(frozen=True, slots=True)
class Terms:
    starting_price: Decimal
    start_time: datetime
    end_time: datetime


def _datetime(errors: FieldErrorCollector, field: str, raw: Any) -> datetime | None:
    if raw is UNSET or raw is None or raw == "":
        errors.add(field, REQUIRED)
        return None
    if not isinstance(raw, str):
        errors.add(field, BAD_DATETIME)
        return None
    try:
        return as_utc(datetime.fromisoformat(raw.strip()))
    except ValueError:
        errors.add(field, BAD_DATETIME)
        return None


def _price(errors: FieldErrorCollector, raw: Any) -> Decimal | None:
    if raw is UNSET or raw == "":
        errors.add("starting_price", REQUIRED)
        return None
    try:
        return parse_amount(raw)
    except InvalidAmount as exc:
        errors.add("starting_price", str(exc))
        return None


def parse_terms(errors: FieldErrorCollector, price: Any, start: Any, end: Any) -> Terms | None:
    starting_price = _price(errors, price)
    start_time = _datetime(errors, "start_time", start)
    end_time = _datetime(errors, "end_time", end)
    if starting_price is None or start_time is None or end_time is None:
        return None
    if end_time <= start_time:
        errors.add("non_field_errors", "End time must be after start time")
    elif end_time <= utc_now():
        errors.add("end_time", "End time must be in the future")
    elif end_time - start_time > MAX_DURATION:
        errors.add("non_field_errors", "An auction can last at most 30 days")
    return Terms(starting_price, start_time, end_time)


async def _insert_auction(product_id: int, terms: Terms) -> int:
    now = utc_now()
    rows = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=terms.starting_price,
            current_price=terms.starting_price,
            bid_count=0,
            start_time=terms.start_time,
            end_time=terms.end_time,
            status=AuctionStatus.active.value,
            winner=None,
            created_at=now,
            updated_at=now,
        )
    ).returning(Auction.id)
    return int(rows[0]["id"])


async def create_from_product(account: Account, data: AuctionCreate, effects: Effects) -> int:
    errors = FieldErrorCollector()
    product_id = data.product_id
    if product_id is UNSET or product_id is None:
        errors.add("product_id", REQUIRED)
    elif isinstance(product_id, bool) or not isinstance(product_id, int):
        errors.add("product_id", "A valid integer is required.")
    terms = parse_terms(errors, data.starting_price, data.start_time, data.end_time)
    errors.check()
    assert terms is not None and isinstance(product_id, int)
    product = await Product.select(Product.seller).where(Product.id == product_id).first()
    if product is None:
        raise FieldErrors({"product_id": ["Product not found"]})
    if product["seller"] != account.id:
        raise FieldErrors({"product_id": ["You can only create auctions for your own products"]})
    try:
        async with write_transaction():
            if await Auction.exists().where(Auction.product == product_id):
                raise FieldErrors({"product_id": ["Product already has a listing"]})
            auction_id = await _insert_auction(product_id, terms)
    except Exception as exc:
        if is_unique_violation(exc):
            raise FieldErrors({"product_id": ["Product already has a listing"]}) from None
        raise
    _schedule(effects, auction_id, terms.end_time)
    return auction_id


def _schedule(effects: Effects, auction_id: int, end_time: datetime | None) -> None:
    done = AfterCommit()
    if end_time is None:
        done.cancel_ending(auction_id)
    else:
        done.schedule_ending(auction_id, end_time)
    effects.flush(done)


async def create_with_product(
    account: Account,
    form: dict[str, Any],
    images: list[bytes],
    settings: Settings,
    effects: Effects,
) -> int:
    """The React client's one-step listing: product, images and auction, all or nothing."""
    errors = FieldErrorCollector()
    values = parse_product(errors, form)
    check_images(errors, images, required=False)
    terms = parse_terms(
        errors,
        form.get("starting_price", UNSET),
        form.get("start_time", UNSET),
        form.get("end_time", UNSET),
    )
    await check_category(errors, values)
    errors.check()
    assert terms is not None
    cleaned = await prepared_images(images, "images", settings)
    media = MediaWriter(settings.media_root)
    try:
        async with write_transaction():
            product_id = await insert_product(account, values, cleaned, media)
            auction_id = await _insert_auction(product_id, terms)
    except BaseException:
        media.discard()
        raise
    _schedule(effects, auction_id, terms.end_time)
    return auction_id


OWN_AUCTION_COLUMNS = (
    Auction.id,
    Auction.bid_count,
    Auction.status,
    Auction.start_time,
    Auction.end_time,
    Auction.starting_price,
    Auction.product,
    Auction.product.seller.as_alias("seller"),
)


async def _own_auction(account: Account, auction_id: int) -> dict[str, Any]:
    row = await Auction.select(*OWN_AUCTION_COLUMNS).where(Auction.id == auction_id).first()
    if row is None:
        raise NotFound()
    if row["seller"] != account.id:
        raise PermissionDenied()
    return row


async def update_auction(
    account: Account, auction_id: int, data: AuctionUpdate, effects: Effects
) -> Terms:
    """Change price or times while nobody has bid; the ending moves with the end time."""
    row = await _own_auction(account, auction_id)
    if row["bid_count"]:
        raise BusinessError("Cannot edit an auction that has bids")
    if row["status"] != AuctionStatus.active.value:
        raise BusinessError("Only active auctions can be edited")
    errors = FieldErrorCollector()
    terms = parse_terms(
        errors,
        format_money(row["starting_price"])
        if data.starting_price is UNSET
        else data.starting_price,
        row["start_time"].isoformat() if data.start_time is UNSET else data.start_time,
        row["end_time"].isoformat() if data.end_time is UNSET else data.end_time,
    )
    errors.check()
    assert terms is not None
    changed = (
        await Auction.update(
            {
                Auction.starting_price: terms.starting_price,
                Auction.current_price: terms.starting_price,
                Auction.start_time: terms.start_time,
                Auction.end_time: terms.end_time,
                Auction.updated_at: utc_now(),
            }
        )
        .where((Auction.id == auction_id) & (Auction.bid_count == 0))
        .returning(Auction.id)
    )
    if not changed:
        raise BusinessError("Cannot edit an auction that has bids")
    _schedule(effects, auction_id, terms.end_time)
    return terms


async def delete_auction(account: Account, auction_id: int, effects: Effects) -> None:
    await _own_auction(account, auction_id)
    deleted = (
        await Auction.delete()
        .where((Auction.id == auction_id) & (Auction.bid_count == 0))
        .returning(Auction.id)
    )
    if not deleted:
        raise BusinessError("Cannot delete an auction that has bids")
    _schedule(effects, auction_id, None)


async def seller_statistics(account: Account) -> SellerStatistics:
    sold = (OrderStatus.paid.value, OrderStatus.shipped.value, OrderStatus.delivered.value)
    orders = await Order.select(Order.status, Order.seller_amount, Order.paid_at).where(
        Order.seller == account.id
    )
    month_start = utc_now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    paid = [o for o in orders if o["status"] in sold]
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
