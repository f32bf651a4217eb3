"""The auction row the bid path works on: the columns that hold an ``AuctionState``, how the row is
locked and read with its bidders' blocks (``FOR UPDATE`` on PostgreSQL), and the condition that
it still holds a state judged earlier (``still_holds``), for writes that skip the lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from madeinpk.auctions.bidding.rules import (
    AuctionState,
    Bidder,
)
from madeinpk.db.held_writes import IF_NOT_HELD
from madeinpk.db.sql import POSTGRES, SQLITE, Connection, Dialect, Statement
from madeinpk.money import to_money
from madeinpk.timestamps import utc_now


def state_columns(state: AuctionState) -> dict[str, Any]:
    """The auction row's columns that hold ``state`` (all that the rules read), by name."""
    return {
        "status": state.status,
        "start_time": state.start_time,
        "end_time": state.end_time,
        "starting_price": state.starting_price,
        "current_price": state.current_price,
        "bid_count": state.bid_count,
        "seq": state.seq,
        "leader": state.leader.id if state.leader else None,
        "leader_max": state.leader_max,
        "last_bid_time": state.last_bid_time,
        "min_increment": state.min_increment,
        "reserve_price": state.reserve_price,
        "soft_close_seconds": state.soft_close_seconds,
        "buy_now_price": state.buy_now_price,
    }


# What a batch of bids changes on the auction's row.
BID_COLUMNS = (
    "current_price",
    "bid_count",
    "seq",
    "leader",
    "leader_max",
    "last_bid_time",
    "end_time",
)


def still_holds(spoken: Dialect, state: AuctionState, bidders: list[int]) -> Statement:
    """``a`` (the auction row) still holds ``state``, column by column, and none of ``bidders``
    is blocked. The rest of what ``lock_auction`` reads (the product's seller and name, the leader's
    name and address) is read afresh at least every ``desk.KNOWN_FOR_SECONDS``."""
    columns = state_columns(state)
    checks = " AND ".join(f"a.{c} IS NOT DISTINCT FROM :was_{c}" for c in columns)
    among = spoken.among("was_bidders")
    blocked = f'SELECT 1 FROM user_profile WHERE "user" {among} AND is_blocked'
    params = {f"was_{c}": value for c, value in columns.items()} | {
        "was_bidders": bidders,
        "was_auction": state.auction_id,
    }
    return f"a.id = :was_auction AND {checks} AND NOT EXISTS ({blocked})", params


_LOCK_POSTGRES = f"""
    SELECT s.*, clock_timestamp() AS now,
           u.username AS leader_username, u.email AS leader_email,
           (SELECT language FROM user_profile WHERE "user" = s.leader) AS leader_language,
           ARRAY(SELECT "user" FROM user_profile
                 WHERE "user" {POSTGRES.among("bidders")} AND is_blocked) AS blocked
    FROM (
        SELECT a.id, a.status, a.start_time, a.end_time, a.starting_price, a.current_price,
               a.bid_count, a.seq, a.leader, a.leader_max, a.last_bid_time,
               a.min_increment, a.reserve_price, a.soft_close_seconds, a.buy_now_price,
               p.seller, p.name AS product_name
        FROM auction a JOIN product p ON p.id = a.product
        WHERE a.id = :auction
        FOR UPDATE OF a
    ) s
    LEFT JOIN piccolo_user u ON u.id = s.leader
"""
# The lock subquery is not flattened (it has a row mark), so ``now`` and the leader's name are
# read after the row is held: the time a bid is judged by is never before its predecessor's.

_STATE_COLUMNS_SQLITE = """
    a.id, a.status, a.start_time, a.end_time, a.starting_price, a.current_price,
    a.bid_count, a.seq, a.leader, a.leader_max, a.last_bid_time,
    a.min_increment, a.reserve_price, a.soft_close_seconds, a.buy_now_price,
    p.seller, p.name AS product_name,
    u.username AS leader_username, u.email AS leader_email,
    (SELECT language FROM user_profile WHERE "user" = a.leader) AS leader_language
"""
_STATE_FROM_SQLITE = """
    FROM auction a JOIN product p ON p.id = a.product
    LEFT JOIN piccolo_user u ON u.id = a.leader
"""
_STATE_SQLITE = f"SELECT {_STATE_COLUMNS_SQLITE} {_STATE_FROM_SQLITE} WHERE a.id = :auction"

_BLOCKED_SQLITE = (
    f'SELECT "user" FROM user_profile WHERE "user" {SQLITE.among("bidders")} AND is_blocked'
)

# The row as another writer left it, when a write on a known state found it moved: locked, so
# that it is read after that writer committed (``held_writes.write_if_held``). Travels as JSON:
# money as text, so that no amount goes through a float.
_CURRENT_POSTGRES = f"""
    SELECT s.*, u.username AS leader_username, u.email AS leader_email,
           (SELECT language FROM user_profile WHERE "user" = s.leader) AS leader_language,
           ARRAY(SELECT "user" FROM user_profile
                 WHERE "user" {POSTGRES.among("cur_bidders")} AND is_blocked) AS blocked
    FROM (
        SELECT a.id, a.status, a.start_time, a.end_time, a.starting_price::text,
               a.current_price::text, a.bid_count, a.seq, a.leader, a.leader_max::text,
               a.last_bid_time, a.min_increment::text, a.reserve_price::text,
               a.soft_close_seconds, a.buy_now_price::text, p.seller, p.name AS product_name
        FROM auction a JOIN product p ON p.id = a.product
        WHERE a.id = :cur_auction AND {IF_NOT_HELD}
        FOR UPDATE OF a
    ) s
    LEFT JOIN piccolo_user u ON u.id = s.leader
"""

_CURRENT_SQLITE = f"""
    SELECT {_STATE_COLUMNS_SQLITE},
           (SELECT json_group_array("user") FROM user_profile
            WHERE "user" {SQLITE.among("cur_bidders")} AND is_blocked) AS blocked
    {_STATE_FROM_SQLITE}
    WHERE a.id = :cur_auction
"""


def current_row(spoken: Dialect, auction_id: int, bidders: list[int]) -> Statement:
    return (
        _CURRENT_POSTGRES if spoken.postgres else _CURRENT_SQLITE,
        {"cur_auction": auction_id, "cur_bidders": bidders},
    )


def int_array(value: Any) -> list[int]:
    """An id array: a list from PostgreSQL, JSON text from SQLite."""
    return list(msgspec.json.decode(value) if isinstance(value, str) else value)


async def lock_auction(
    db: Connection, auction_id: int, bidder_ids: list[int]
) -> tuple[AuctionState, datetime, set[int]] | None:
    if db.dialect.postgres:
        rows = await db.fetch(_LOCK_POSTGRES, auction=auction_id, bidders=bidder_ids)
        if not rows:
            return None
        row = rows[0]
        now, blocked = db.dialect.timestamp(row["now"]), set(row["blocked"])
    else:
        # Read with the write lock held (BEGIN IMMEDIATE goes first, in the same trip).
        rows, blocked_rows = await db.together(
            [(_STATE_SQLITE, {"auction": auction_id}), (_BLOCKED_SQLITE, {"bidders": bidder_ids})],
            0,
            1,
        )
        if not rows:
            return None
        row, now = rows[0], utc_now()
        blocked = {r["user"] for r in blocked_rows}
    return state_from_row(db.dialect, auction_id, row), now, blocked


def state_from_row(spoken: Dialect, auction_id: int, row: dict[str, Any]) -> AuctionState:
    """The rules' view of an auction's row (joined with its product and leader)."""
    leader = (
        Bidder(
            row["leader"],
            row["leader_username"],
            row["leader_email"],
            row.get("leader_language") or "en",
        )
        if row["leader"] is not None
        else None
    )
    return AuctionState(
        auction_id=auction_id,
        product_name=row["product_name"],
        seller_id=row["seller"],
        status=row["status"],
        start_time=spoken.timestamp(row["start_time"]),
        end_time=spoken.timestamp(row["end_time"]),
        starting_price=to_money(row["starting_price"]),
        current_price=to_money(row["current_price"]),
        bid_count=row["bid_count"],
        seq=row["seq"],
        leader=leader,
        last_bid_time=(
            spoken.timestamp(row["last_bid_time"]) if row["last_bid_time"] is not None else None
        ),
        leader_max=spoken.money(row["leader_max"]),
        min_increment=spoken.money(row["min_increment"]),
        reserve_price=spoken.money(row["reserve_price"]),
        soft_close_seconds=row["soft_close_seconds"],
        buy_now_price=spoken.money(row["buy_now_price"]),
    )
