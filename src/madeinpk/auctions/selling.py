"""The seller's side of auctions: listing, changing and withdrawing them, and their figures.

Edits and deletions are conditional on ``bid_count = 0`` in the same statement, so a bid that
lands a moment earlier always wins over an edit that would change the terms under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from msgspec import UNSET, UnsetType

from madeinpk.after_commit import Effects
from madeinpk.auctions.lifecycle.timetable import schedule_tasks
from madeinpk.auctions.schemas import (
    AuctionCreate,
    AuctionOptions,
    AuctionOptionsForm,
    AuctionUpdate,
)
from madeinpk.auctions.tables import Auction, AuctionStatus, Watch
from madeinpk.catalog.service import (
    check_category,
    check_images,
    insert_product,
    parse_product,
    prepared_images,
)
from madeinpk.catalog.tables import Product
from madeinpk.db.database import is_unique_violation, write_transaction
from madeinpk.http.auth import Account
from madeinpk.http.bodies import to_struct
from madeinpk.http.errors import (
    REQUIRED,
    BusinessError,
    FieldErrorCollector,
    FieldErrors,
    NotFound,
    PermissionDenied,
)
from madeinpk.media import MediaWriter
from madeinpk.money import stored_money, to_money
from madeinpk.settings import Settings
from madeinpk.timestamps import as_utc, plain, utc_now

MAX_DURATION = timedelta(days=30)
RESERVE_BELOW_START = "Reserve price must be at least the starting price."
BUY_NOW_NOT_ABOVE_START = "Buy It Now price must be higher than the starting price."
BUY_NOW_BELOW_RESERVE = "Buy It Now price must be at least the reserve price."
OPTION_FIELDS = (
    "min_increment",
    "reserve_price",
    "soft_close_seconds",
    "buy_now_price",
    "auto_relist",
)
TERM_FIELDS = ("starting_price", "start_time", "end_time")
# The statuses in which a seller may still edit an auction (while nobody has bid).
EDITABLE = (AuctionStatus.active.value, AuctionStatus.scheduled.value)


@dataclass(frozen=True, slots=True)
class Terms:
    starting_price: Decimal
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True, slots=True)
class Options:
    """The seller's options (docs/auction-rules.md § 1); all unset: the customer's plain rules."""

    min_increment: Decimal | None = None
    reserve_price: Decimal | None = None
    soft_close_seconds: int = 0
    buy_now_price: Decimal | None = None  # Buy It Now; None: none
    auto_relist: int = 0  # automatic relists left (docs/auction-rules.md § Relist)


def _money_over(value: Decimal | None | UnsetType, current: Decimal | None) -> Decimal | None:
    if isinstance(value, UnsetType):
        return current
    return None if value is None else Decimal(value)  # a plain Decimal: drivers bind exact types


def options_over(
    errors: FieldErrorCollector,
    data: AuctionCreate | AuctionUpdate | AuctionOptions | AuctionOptionsForm,
    current: Options,
    starting_price: Decimal | None,
) -> Options:
    """The options ``data`` sets (read and checked by its Struct) over ``current``: absent keeps
    what is in force, as does a form's empty ``soft_close_seconds``; a null money option is
    none. The reserve is checked against the starting price in force, so a new starting price
    above an old reserve is refused too."""
    soft_close = data.soft_close_seconds
    auto_relist = data.auto_relist
    options = Options(
        min_increment=_money_over(data.min_increment, current.min_increment),
        reserve_price=_money_over(data.reserve_price, current.reserve_price),
        soft_close_seconds=soft_close
        if isinstance(soft_close, int)
        else current.soft_close_seconds,
        buy_now_price=_money_over(data.buy_now_price, current.buy_now_price),
        auto_relist=auto_relist if isinstance(auto_relist, int) else current.auto_relist,
    )
    reserve = options.reserve_price
    if (
        reserve is not None
        and starting_price is not None
        and "reserve_price" not in errors.errors
        and reserve < starting_price
    ):
        errors.add("reserve_price", RESERVE_BELOW_START)
    _check_buy_now(errors, options, starting_price)
    return options


def _check_buy_now(
    errors: FieldErrorCollector, options: Options, starting_price: Decimal | None
) -> None:
    """Buy It Now must be worth more than the start and no less than the reserve."""
    buy_now = options.buy_now_price
    if buy_now is None or "buy_now_price" in errors.errors:
        return
    if starting_price is not None and buy_now <= starting_price:
        errors.add("buy_now_price", BUY_NOW_NOT_ABOVE_START)
    elif options.reserve_price is not None and buy_now < options.reserve_price:
        errors.add("buy_now_price", BUY_NOW_BELOW_RESERVE)


def parse_options(
    errors: FieldErrorCollector,
    raw: Mapping[str, Any],
    current: Options,
    starting_price: Decimal | None,
    *,
    form: bool = False,
) -> Options:
    """The options in ``raw`` (JSON's or the admin's values, or a form's: ``form``) over
    ``current``, each refusal a field error in ``errors``."""
    fields = {name: raw[name] for name in OPTION_FIELDS if name in raw}
    data: AuctionOptions | AuctionOptionsForm = (
        to_struct(fields, AuctionOptionsForm, errors)
        if form
        else to_struct(fields, AuctionOptions, errors)
    )
    return options_over(errors, data, current, starting_price)


def check_terms(
    errors: FieldErrorCollector, data: AuctionCreate | AuctionUpdate, current: Terms | None
) -> Terms | None:
    """The terms ``data`` sets, over ``current`` (an update) or all required (a creation), and
    the rules between them. None when one is missing or was refused (its error is in
    ``errors`` already, from the Struct)."""
    values: dict[str, Any] = {}
    for field in TERM_FIELDS:
        value = getattr(data, field)
        if value is UNSET:
            if field in errors.errors:
                continue
            if current is None:
                errors.add(field, REQUIRED)
                continue
            value = getattr(current, field)
        values[field] = value
    if len(values) < len(TERM_FIELDS):
        return None
    terms = Terms(
        Decimal(values["starting_price"]), plain(values["start_time"]), plain(values["end_time"])
    )
    if terms.end_time <= terms.start_time:
        errors.add("non_field_errors", "End time must be after start time")
    elif terms.end_time <= utc_now():
        errors.add("end_time", "End time must be in the future")
    elif terms.end_time - terms.start_time > MAX_DURATION:
        errors.add("non_field_errors", "An auction can last at most 30 days")
    return terms


async def insert_auction(
    product_id: int, terms: Terms, options: Options, relisted_from: int | None = None
) -> int:
    now = utc_now()
    rows = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=terms.starting_price,
            current_price=terms.starting_price,
            bid_count=0,
            min_increment=options.min_increment,
            reserve_price=options.reserve_price,
            soft_close_seconds=options.soft_close_seconds,
            buy_now_price=options.buy_now_price,
            start_time=terms.start_time,
            end_time=terms.end_time,
            status=initial_status(terms.start_time, now),
            winner=None,
            created_at=now,
            updated_at=now,
            auto_relist=options.auto_relist,
            relisted_from=relisted_from,
        )
    ).returning(Auction.id)
    return int(rows[0]["id"])


def initial_status(start_time: datetime, now: datetime) -> str:
    """A listing whose start is ahead waits ``scheduled`` until its start task opens it; one
    that starts now (or started) is ``active`` at once, as it always was."""
    return (AuctionStatus.scheduled if start_time > now else AuctionStatus.active).value


def _defaults(settings: Settings) -> Options:
    return Options(soft_close_seconds=settings.soft_close_seconds)


async def create_from_product(
    account: Account, fields: dict[str, Any], settings: Settings, effects: Effects
) -> int:
    """From JSON with ``product_id`` (an ``AuctionCreate``)."""
    errors = FieldErrorCollector()
    data = to_struct(fields, AuctionCreate, errors)
    product_id = data.product_id
    if product_id is UNSET and "product_id" not in errors.errors:
        errors.add("product_id", REQUIRED)
    terms = check_terms(errors, data, None)
    options = options_over(
        errors, data, _defaults(settings), terms.starting_price if terms else None
    )
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
            auction_id = await insert_auction(product_id, terms, options)
    except Exception as exc:
        if is_unique_violation(exc):
            raise FieldErrors({"product_id": ["Product already has a listing"]}) from None
        raise
    schedule_tasks(effects, auction_id, terms)
    return auction_id


async def create_with_product(
    account: Account,
    form: dict[str, Any],
    images: list[bytes],
    settings: Settings,
    effects: Effects,
    *,
    is_form: bool = True,
) -> int:
    """The React client's one-step listing: product, images and auction, all or nothing."""
    errors = FieldErrorCollector()
    values = parse_product(errors, form)
    check_images(errors, images, required=False)
    # The terms as JSON gives them (what a form sends reads the same); the options by the body's
    # own rule for an empty value.
    given_terms = {name: value for name, value in form.items() if name not in OPTION_FIELDS}
    terms = check_terms(errors, to_struct(given_terms, AuctionUpdate, errors), None)
    options = parse_options(
        errors,
        form,
        _defaults(settings),
        terms.starting_price if terms else None,
        form=is_form,
    )
    await check_category(errors, values)
    errors.check()
    assert terms is not None
    cleaned = await prepared_images(images, "images", settings)
    media = MediaWriter(settings.media_root)
    try:
        async with write_transaction():
            product_id = await insert_product(account, values, cleaned, media)
            auction_id = await insert_auction(product_id, terms, options)
    except BaseException:
        media.discard()
        raise
    schedule_tasks(effects, auction_id, terms)
    return auction_id


OWN_AUCTION_COLUMNS = (
    Auction.id,
    Auction.bid_count,
    Auction.status,
    Auction.start_time,
    Auction.end_time,
    Auction.starting_price,
    Auction.min_increment,
    Auction.reserve_price,
    Auction.soft_close_seconds,
    Auction.buy_now_price,
    Auction.auto_relist,
    Auction.winner,
    Auction.product,
    Auction.product.seller.as_alias("seller"),
)


async def own_auction(account: Account, auction_id: int) -> dict[str, Any]:
    row = await Auction.select(*OWN_AUCTION_COLUMNS).where(Auction.id == auction_id).first()
    if row is None:
        raise NotFound()
    if row["seller"] != account.id:
        raise PermissionDenied()
    return row


async def update_auction(
    account: Account, auction_id: int, fields: dict[str, Any], effects: Effects
) -> Terms:
    """Change price, times or options (an ``AuctionUpdate``) while nobody has bid; the ending
    moves with the end time, and the start with the start time: a start moved ahead makes
    the auction ``scheduled`` (again), and a scheduled one whose start moved to now or before
    opens at once, through its start task, with ``auction_started`` like any other."""
    row = await own_auction(account, auction_id)
    if row["bid_count"]:
        raise BusinessError("Cannot edit an auction that has bids")
    if row["status"] not in EDITABLE:
        raise BusinessError("Only active auctions can be edited")
    errors = FieldErrorCollector()
    data = to_struct(fields, AuctionUpdate, errors)
    in_force = Terms(
        to_money(row["starting_price"]), as_utc(row["start_time"]), as_utc(row["end_time"])
    )
    terms = check_terms(errors, data, in_force)
    current = Options(
        min_increment=stored_money(row["min_increment"]),
        reserve_price=stored_money(row["reserve_price"]),
        soft_close_seconds=row["soft_close_seconds"],
        buy_now_price=stored_money(row["buy_now_price"]),
        auto_relist=row["auto_relist"],
    )
    options = options_over(errors, data, current, terms.starting_price if terms else None)
    errors.check()
    assert terms is not None
    ahead = terms.start_time > utc_now()
    moved: dict[Any, Any] = {Auction.status: AuctionStatus.scheduled.value} if ahead else {}
    changed = (
        await Auction.update(
            {
                **moved,
                Auction.starting_price: terms.starting_price,
                Auction.current_price: terms.starting_price,
                Auction.start_time: terms.start_time,
                Auction.end_time: terms.end_time,
                Auction.min_increment: options.min_increment,
                Auction.reserve_price: options.reserve_price,
                Auction.soft_close_seconds: options.soft_close_seconds,
                Auction.buy_now_price: options.buy_now_price,
                Auction.auto_relist: options.auto_relist,
                Auction.updated_at: utc_now(),
            }
        )
        .where(
            (Auction.id == auction_id)
            & (Auction.bid_count == 0)
            & Auction.status.is_in(list(EDITABLE))
        )
        .returning(Auction.id, Auction.status)
    )
    if not changed:
        raise BusinessError("Cannot edit an auction that has bids")
    schedule_tasks(
        effects, auction_id, terms, changed[0]["status"] == AuctionStatus.scheduled.value
    )
    return terms


async def delete_auction(account: Account, auction_id: int, effects: Effects) -> None:
    await own_auction(account, auction_id)
    deleted = (
        await Auction.delete()
        .where((Auction.id == auction_id) & (Auction.bid_count == 0))
        .returning(Auction.id)
    )
    if not deleted:
        raise BusinessError("Cannot delete an auction that has bids")
    await Watch.delete().where(Watch.auction == auction_id)  # no foreign key: tables.Watch
    schedule_tasks(effects, auction_id, None)
