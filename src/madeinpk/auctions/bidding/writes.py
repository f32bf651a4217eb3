"""What a bid batch's decision writes: the auction row, the bids (the old winning bid unflagged,
the new ones inserted), the auction's events, and the notices and outbox emails of those who lost
the lead, in as few statements as the engine allows (one round trip on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.bidding.row_state import BID_COLUMNS, state_columns
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Decision,
    Outcome,
)
from madeinpk.auctions.events import event_payload
from madeinpk.auctions.tables import AuctionEvent
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.db.held_writes import IF_HELD
from madeinpk.db.sql import Connection, Dialect, Statement, insert_sql
from madeinpk.notifications import texts
from madeinpk.notifications.emails import OUTBID
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.notifications.texts import as_language


class BatchWrites:
    """What a decision writes, in statement order. With ``unchanged`` (a condition on the
    auction row ``a``), the auction's update only applies if it holds and returns the row's id,
    and on PostgreSQL every later statement depends on it (``held_writes.write_if_held``)."""

    def __init__(
        self,
        spoken: Dialect,
        decision: Decision,
        now: datetime,
        unchanged: Statement | None = None,
    ) -> None:
        state, auction_id = decision.after, decision.after.auction_id
        where, conditions = unchanged or ("a.id = :auction", {})
        only_if = IF_HELD if unchanged and spoken.postgres else ""
        row = state_columns(state)
        sets = ", ".join(f"{c} = :{c}" for c in BID_COLUMNS)
        self.auction: Statement = (
            f"UPDATE auction AS a SET {sets}, updated_at = :now WHERE {where}"
            + (" RETURNING id" if unchanged else ""),
            conditions | {c: row[c] for c in BID_COLUMNS} | {"now": now, "auction": auction_id},
        )
        self.rest: list[Statement] = []
        self.outbox: int | None = None  # index in ``rest`` of the outbox insert
        self.bids: int | None = None  # index in ``rest`` of the bid insert
        self.payloads = [(e.seq, event_payload(auction_id, e)) for e in decision.events]
        also = f" AND {only_if}" if only_if else ""
        # A maximum raised before this decision's bids stays with the bid that was winning then
        # (a removal replays it there); one statement, as it may unflag the same row.
        raised = decision.raised_winning
        keep_raise = "" if raised is None else ", raised_max = :raised"
        unwin = "is_winning = FALSE" + keep_raise if decision.bids else keep_raise[2:]
        if unwin:
            self.rest.append(
                (
                    f"UPDATE bid SET {unwin} WHERE auction = :unwin AND is_winning{also}",
                    {"unwin": auction_id} | ({"raised": raised} if raised is not None else {}),
                )
            )
        if not decision.bids:  # only a leader's raised maximum
            return
        self.rest.append(
            insert_sql(
                spoken,
                AuctionEvent,
                ("auction", "seq", "payload", "created_at"),
                [(auction_id, seq, payload.decode(), now) for seq, payload in self.payloads],
                prefix="ev",
                only_if=only_if,
            )
        )
        if decision.outbid:
            notices, outbox = _outbid_notices(spoken, decision, now, only_if)
            self.rest.append(notices)
            self.outbox = len(self.rest)
            self.rest.append(outbox)
        last = len(decision.bids) - 1
        self.bids = len(self.rest)
        self.rest.append(
            insert_sql(
                spoken,
                BidRow,
                (
                    "auction",
                    "bidder",
                    "amount",
                    "bid_time",
                    "is_winning",
                    "is_auto",
                    "seq",
                    "max_amount",
                    "raised_max",
                ),
                [
                    (
                        auction_id,
                        b.bidder.id,
                        b.amount,
                        b.time,
                        i == last,
                        b.is_auto,
                        b.seq,
                        b.max_amount,
                        b.raised_max,
                    )
                    for i, b in enumerate(decision.bids)
                ],
                "RETURNING id, seq",
                prefix="bd",
                only_if=only_if,
            )
        )

    @property
    def returning(self) -> tuple[int, ...]:
        return tuple(i for i in (self.outbox, self.bids) if i is not None)

    def finish(
        self, decision: Decision, done: AfterCommit, returned: list[list[dict[str, Any]]]
    ) -> list[Outcome]:
        """After the writes: the effects to carry out once committed, and the outcomes with the
        stored bids' ids."""
        auction_id = decision.after.auction_id
        if decision.extended:
            done.schedule_ending(auction_id, decision.after.end_time, extended=True)
        rows = dict(zip(self.returning, returned, strict=True))
        done.notify_users(o.bidder.id for o in decision.outbid)
        for seq, payload in self.payloads:
            done.broadcast(auction_id, seq, payload)
        if self.outbox is not None:
            done.send_emails([r["id"] for r in rows[self.outbox]])
        if self.bids is None:
            return decision.outcomes
        bid_ids = {r["seq"]: r["id"] for r in rows[self.bids]}
        return [
            msgspec.structs.replace(o, bid_id=bid_ids[o.bid_seq])
            if isinstance(o, Accepted) and o.bid_seq and not o.bid_id
            else o
            for o in decision.outcomes
        ]


async def record_decision(
    db: Connection, decision: Decision, done: AfterCommit, now: datetime
) -> list[Outcome]:
    """Write what the decision lists, in the transaction that holds the row; return the
    outcomes with the stored bids' ids.

    Everything goes in one round trip on PostgreSQL: the old winning bid is unflagged and the
    new one inserted side by side, as the database checks "one winning bid" at commit; SQLite
    runs the same statements in order."""
    if not decision.changed:
        return decision.outcomes
    writes = BatchWrites(db.dialect, decision, now)
    statements = [writes.auction, *writes.rest]
    returned = await db.together(statements, *(i + 1 for i in writes.returning))
    return writes.finish(decision, done, returned)


def _outbid_notices(
    spoken: Dialect, decision: Decision, now: datetime, only_if: str
) -> tuple[Statement, Statement]:
    """The in-app notices and outbox emails of those who lost the lead, committed with the bid
    that beat them; the outbox statement returns the emails' ids."""
    product, auction_id = decision.before.product_name, decision.before.auction_id
    notices = insert_sql(
        spoken,
        Notification,
        ("user", "notification_type", "title", "message", "auction", "created_at"),
        [
            (
                o.bidder.id,
                NotificationType.bid_outbid.value,
                *texts.OUTBID.render(
                    as_language(o.bidder.language), amount=o.price, product=product
                ),
                auction_id,
                now,
            )
            for o in decision.outbid
        ],
        prefix="nt",
        only_if=only_if,
    )
    emails = []
    for o in decision.outbid:
        subject, body = OUTBID.render(
            as_language(o.bidder.language),
            username=o.bidder.username,
            product=product,
            amount=o.price,
        )
        emails.append((f"outbid:{auction_id}:{o.seq}", o.bidder.email, subject, body, now))
    outbox = insert_sql(
        spoken,
        OutboxEmail,
        ("dedupe_key", "to_address", "subject", "body", "created_at"),
        emails,
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        prefix="em",
        only_if=only_if,
    )
    return notices, outbox
