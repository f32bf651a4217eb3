"""The Piccolo admin panel at ``/admin/``: built once per app, never per request.

Only staff (``BaseUser.admin``) can sign in; ``madeinpk createsuperuser`` makes one. Failed
sign-ins count against the API login's budgets (``madeinpk.admin.staff_login``). The
auction options (``min_increment``, ``reserve_price``, ``soft_close_seconds``, Buy It Now's
``buy_now_price``) are editable
there like every column, and judged by the same rules as the REST API, so the admin cannot
store an option the bid path was never meant to see. The bid list shows whether a bid was
removed, by whom and when (removal itself goes through ``POST /api/bids/{id}/remove/``, which
recounts the auction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import asgi
from litestar.handlers.asgi_handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from piccolo.columns import Column
from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.hooks import Hook, HookType
from starlette.exceptions import HTTPException

from madeinpk.accounts.login_throttle import LoginThrottle
from madeinpk.admin.staff_login import NoPerProcessLimit, throttle_login
from madeinpk.auctions.selling import (
    EDITABLE,
    OPTION_FIELDS,
    Options,
    initial_status,
    parse_options,
)
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.db.database import ALL_TABLES
from madeinpk.http.errors import FieldErrorCollector
from madeinpk.money import stored_money
from madeinpk.settings import Settings
from madeinpk.timestamps import as_utc, utc_now


def _check_options(values: dict[str, Any], current: Options, starting_price: Any) -> None:
    """Refuse bad options with the REST API's field errors (a 400 the admin shows)."""
    errors = FieldErrorCollector()
    raw = {name: values[name] for name in OPTION_FIELDS if name in values}
    start = stored_money(values.get("starting_price", starting_price))
    parse_options(errors, raw, current, start)
    if errors.errors:
        raise HTTPException(status_code=400, detail=str(errors.errors))


async def _check_new_auction(row: Auction) -> Auction:
    values = {name: getattr(row, name) for name in (*OPTION_FIELDS, "starting_price")}
    _check_options(values, Options(), values["starting_price"])
    if row.status == AuctionStatus.active.value and isinstance(row.start_time, datetime):
        # A start ahead waits ``scheduled``, as a REST listing does; the sweep opens it.
        row.status = initial_status(as_utc(row.start_time), utc_now())
    return row


async def _schedule_patched_start(row_id: Any, named: dict[str, Any]) -> dict[str, Any]:
    """A start moved ahead makes a listing ``scheduled`` again (as a REST edit does)."""
    start = named.get("start_time")
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            return {}
    if not isinstance(start, datetime) or as_utc(start) <= utc_now():
        return {}
    status = named.get("status")
    if status is None:
        row = await Auction.select(Auction.status).where(Auction.id == row_id).first()
        status = row["status"] if row else None
    if status in EDITABLE:
        return {"status": AuctionStatus.scheduled.value}
    return {}


async def _check_auction_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    named = {_name(k): v for k, v in values.items()}
    if rescheduled := await _schedule_patched_start(row_id, named):
        values = {k: v for k, v in values.items() if _name(k) != "status"} | rescheduled
    if not {*OPTION_FIELDS, "starting_price"} & named.keys():
        return values
    stored = (
        await Auction.select(
            Auction.starting_price,
            Auction.min_increment,
            Auction.reserve_price,
            Auction.soft_close_seconds,
            Auction.buy_now_price,
            Auction.auto_relist,
        )
        .where(Auction.id == row_id)
        .first()
    )
    if stored is None:
        return values
    current = Options(
        min_increment=stored_money(stored["min_increment"]),
        reserve_price=stored_money(stored["reserve_price"]),
        soft_close_seconds=stored["soft_close_seconds"],
        buy_now_price=stored_money(stored["buy_now_price"]),
        auto_relist=stored["auto_relist"],
    )
    _check_options(named, current, stored["starting_price"])
    return values


# A bid changed by hand would skip the rule core: the price, the leader and the proxy maxima would
# no longer follow from the bids, and no event would tell the watchers.
BIDS_READ_ONLY = (
    "Bids are the auction's record and cannot be changed here: bids are placed through the API "
    "and removed with POST /api/bids/{id}/remove/, which recounts the auction"
)


def _bids_are_read_only(**_: Any) -> Any:
    raise HTTPException(status_code=400, detail=BIDS_READ_ONLY)


def _name(key: Any) -> str:
    return key._meta.name if isinstance(key, Column) else str(key)


def _table_config(table: Any) -> Any:
    if table is Auction:
        return TableConfig(
            Auction,
            hooks=[
                Hook(HookType.pre_save, _check_new_auction),
                Hook(HookType.pre_patch, _check_auction_patch),
            ],
        )
    if table is Bid:  # removed bids stay, flagged (docs/auction-rules.md § 10)
        return TableConfig(
            Bid,
            hooks=[Hook(kind, _bids_are_read_only) for kind in HookType],
            visible_columns=[
                Bid.id,
                Bid.auction,
                Bid.bidder,
                Bid.amount,
                Bid.bid_time,
                Bid.is_winning,
                Bid.is_auto,
                Bid.removed_at,
                Bid.removed_by,
                Bid.removed_with,
            ],
            visible_filters=[Bid.auction, Bid.bidder, Bid.is_auto, Bid.removed_at, Bid.removed_by],
        )
    return table


def admin_handler(settings: Settings, login_throttle: LoginThrottle) -> ASGIRouteHandler:
    """The admin, its login counted by the API login's ``login_throttle`` (staff_login.py)."""
    admin: Any = create_admin(
        tables=[_table_config(t) for t in ALL_TABLES if t._meta.tablename != "sessions"],
        site_name="MadeInPK Admin",
        # Secure cookies off only in development, where there is no HTTPS.
        production=not settings.debug,
        rate_limit_provider=NoPerProcessLimit(),
    )
    throttle_login(admin, login_throttle)

    @asgi("/admin", is_mount=True, copy_scope=True)
    async def admin_panel(scope: Scope, receive: Receive, send: Send) -> None:
        await admin(scope, receive, send)

    return admin_panel
