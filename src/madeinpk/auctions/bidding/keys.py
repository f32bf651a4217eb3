"""Idempotency keys of bids: a retried request with the same key gets the first answer again for
``KEY_LIFETIME`` (the outcome stored with the bid, in its transaction); after that a key is a new
bid, and the hourly sweep deletes the old rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from madeinpk.auctions.bidding.rules import (
    Attempt,
    Outcome,
    Prior,
)
from madeinpk.auctions.tables import BidRequest as BidRequestRow
from madeinpk.db.sql import (
    Connection,
)
from madeinpk.money import to_money
from madeinpk.timestamps import utc_now

if TYPE_CHECKING:
    from madeinpk.auctions.bidding.desk import BidRequest


KEY_LIFETIME = timedelta(hours=24)

_outcome_encoder = msgspec.json.Encoder(decimal_format="string")
_outcome_decoder = msgspec.json.Decoder(Outcome)


class KeyRace(Exception):
    """Another transaction stored the same idempotency key a moment ago: decide again."""


async def read_priors(
    db: Connection, requests: list[BidRequest], now: datetime
) -> dict[tuple[int, str], Prior]:
    keyed = sorted({(r.bidder.id, r.key) for r in requests if r.key})
    match = " OR ".join(f'(bidder = :b{i} AND "key" = :k{i})' for i in range(len(keyed)))
    params: dict[str, Any] = {f"b{i}": b for i, (b, _) in enumerate(keyed)}
    params |= {f"k{i}": k for i, (_, k) in enumerate(keyed)}
    rows = await db.fetch(
        f'SELECT bidder, "key", auction, amount, max_amount, outcome FROM bid_request '
        f"WHERE created_at > :cutoff AND ({match})",
        cutoff=now - KEY_LIFETIME,
        **params,
    )
    return {
        (r["bidder"], r["key"]): Prior(
            r["auction"],
            to_money(r["amount"]),
            db.dialect.money(r["max_amount"]),
            _outcome_decoder.decode(r["outcome"]),
        )
        for r in rows
    }


async def remember_keys(
    db: Connection,
    auction_id: int,
    attempts: list[Attempt],
    outcomes: list[Outcome],
    now: datetime,
) -> None:
    """Store the first outcome of each new key; an expired row with the same key is reused."""
    rows: dict[tuple[int, str], tuple[Any, ...]] = {}
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        if attempt.key is None or attempt.prior is not None:
            continue
        slot = (attempt.bidder.id, attempt.key)
        if slot not in rows:
            encoded = _outcome_encoder.encode(outcome).decode()
            rows[slot] = (
                attempt.bidder.id,
                attempt.key,
                auction_id,
                attempt.amount,
                attempt.max_amount,
                encoded,
                now,
            )
    if not rows:
        return
    stored = await db.insert_rows(
        BidRequestRow,
        ("bidder", "key", "auction", "amount", "max_amount", "outcome", "created_at"),
        list(rows.values()),
        'ON CONFLICT (bidder, "key") DO UPDATE SET auction = excluded.auction, '
        "amount = excluded.amount, max_amount = excluded.max_amount, "
        "outcome = excluded.outcome, "
        "created_at = excluded.created_at WHERE bid_request.created_at <= :cutoff "
        "RETURNING id",
        cutoff=now - KEY_LIFETIME,
    )
    if len(stored) < len(rows):
        raise KeyRace


async def forget_expired_keys() -> int:
    """Idempotency keys answer retries for ``KEY_LIFETIME``; after that a key is a new bid
    (``remember_keys`` reuses the row), so older rows only take room: the sweep deletes them."""
    gone = (
        await BidRequestRow.delete()
        .where(BidRequestRow.created_at <= utc_now() - KEY_LIFETIME)
        .returning(BidRequestRow.id)
    )
    return len(gone)
