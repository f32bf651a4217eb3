"""What a lifecycle scenario ends or starts: a seller and buyers, auctions planned with their bids
(and so with what their ending must write), written as the app writes them; and the checks,
afterwards, of what every ending and every start wrote."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from bench.harness import insert_users
from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.tables import SellerProfile
from madeinpk.auctions.tables import Auction, Bid
from madeinpk.catalog.tables import Product
from madeinpk.notifications.tables import NotificationType

# What an ending writes to its winner, its other bidders and its seller (``outcomes.Ending``).
ENDING_NOTICES = frozenset(
    t.value
    for t in (
        NotificationType.auction_won,
        NotificationType.auction_lost,
        NotificationType.auction_ended,
    )
)


@dataclass
class Users:
    seller_id: int
    seller_name: str
    buyers: list[tuple[int, str]]  # (id, username)


@dataclass
class Spec:
    """One auction as created, and what its ending must produce."""

    name: str
    end_time: datetime
    starting: Decimal
    bids: list[tuple[int, str, Decimal]]  # (bidder id, username, amount), ascending amounts
    id: int = 0
    start_time: datetime | None = None  # None: started an hour ago (active); else scheduled

    @property
    def winner(self) -> tuple[int, str, Decimal] | None:
        return self.bids[-1] if self.bids else None

    @property
    def final_price(self) -> Decimal:
        return self.bids[-1][2] if self.bids else self.starting

    @property
    def losers(self) -> set[int]:
        return {b[0] for b in self.bids} - {self.bids[-1][0]} if self.bids else set()

    @property
    def expected_rows(self) -> int:
        """Notifications (= outbox emails): winner, each distinct loser, seller; or seller only."""
        return (2 + len(self.losers)) if self.bids else 1


async def create_users(n_buyers: int) -> Users:
    now = datetime.now(UTC)
    tag = secrets.token_hex(3)
    password = BaseUser.hash_password("bench-password-1")  # once: 600k PBKDF2 rounds
    names = [f"lc_seller_{tag}"] + [f"lc_buyer{i}_{tag}" for i in range(n_buyers)]
    ids = await insert_users(names, password, now)
    await SellerProfile.insert(
        SellerProfile(
            user=ids[names[0]],
            social_media_links="{}",
            is_verified=False,
            average_rating=Decimal("0.00"),
            total_feedbacks=0,
            created_at=now,
            updated_at=now,
        )
    )
    return Users(ids[names[0]], names[0], [(ids[n], n) for n in names[1:]])


def plan(
    users: Users, end_times: list[datetime], rng: random.Random, prefix: str, bids_cycle: list[int]
) -> list[Spec]:
    specs = []
    for i, end in enumerate(end_times):
        starting = Decimal(2500 + 10 * rng.randint(0, 50)).quantize(Decimal("0.01"))
        n = bids_cycle[i % len(bids_cycle)]
        bids = []
        for j in range(n):
            bidder = rng.choice(users.buyers)
            bids.append((bidder[0], bidder[1], starting + Decimal(100 * (j + 1))))
        specs.append(Spec(f"{prefix} item {i}", end, starting, bids))
    return specs


async def insert_auctions(users: Users, specs: list[Spec], chunk: int = 500) -> None:
    """Product + Auction rows as tests/integration/factories.make_auction writes them, plus Bid
    rows; an auction with a ``start_time`` is written ``scheduled`` (the factory's
    ``status=scheduled, starts_in=…``)."""
    now = datetime.now(UTC)
    for k in range(0, len(specs), chunk):
        part = specs[k : k + chunk]
        products = await Product.insert(
            *[
                Product(
                    seller=users.seller_id,
                    category=None,
                    name=s.name,
                    description="",
                    condition="new",
                    created_at=now,
                    updated_at=now,
                )
                for s in part
            ]
        ).returning(Product.id, Product.name)  # type: ignore[attr-defined]
        product_of = {r["name"]: r["id"] for r in products}
        auctions = await Auction.insert(
            *[
                Auction(
                    product=product_of[s.name],
                    starting_price=s.starting,
                    current_price=s.final_price,
                    bid_count=len(s.bids),
                    start_time=s.start_time or now - timedelta(hours=1),
                    end_time=s.end_time,
                    status="scheduled" if s.start_time else "active",
                    winner=None,
                    created_at=now,
                    updated_at=now,
                )
                for s in part
            ]
        ).returning(Auction.id, Auction.product)  # type: ignore[attr-defined]
        auction_of = {r["product"]: r["id"] for r in auctions}
        for s in part:
            s.id = auction_of[product_of[s.name]]
        bid_rows = [
            Bid(
                auction=s.id,
                bidder=bidder,
                amount=amount,
                bid_time=now - timedelta(minutes=30) + timedelta(seconds=j),
                is_winning=j == len(s.bids) - 1,
            )
            for s in part
            for j, (bidder, _, amount) in enumerate(s.bids)
        ]
        for b in range(0, len(bid_rows), 1000):
            await Bid.insert(*bid_rows[b : b + 1000])


@dataclass
class Failures:
    """What a check found wrong: a count per kind, and the first few spelled out."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def __call__(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {detail}")

    def report(self) -> dict[str, Any]:
        return {"errors": dict(self.counts), "error_examples": self.examples, "ok": not self.counts}


async def verify(conn: asyncpg.Connection, specs: list[Spec], seller_id: int) -> dict[str, Any]:
    """What every ending must have written, checked against the plan."""
    ids = [s.id for s in specs]
    by_id = {s.id: s for s in specs}
    auctions = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, status, winner, current_price FROM auction WHERE id = ANY($1)", ids
        )
    }
    orders = await conn.fetch(
        "SELECT auction, buyer, seller, total_amount, status FROM auction_order "
        "WHERE auction = ANY($1)",
        ids,
    )
    orders_per: Counter[int] = Counter(o["auction"] for o in orders)
    # The ending's own notices only: the ending-soon reminders (the reminder sweep finds these
    # auctions inside ENDING_SOON_MINUTES and writes one per bidder) are counted apart.
    notes = dict(
        await conn.fetch(
            "SELECT auction, count(*) FROM notification WHERE auction = ANY($1) "
            "AND notification_type = ANY($2) GROUP BY auction",
            ids,
            list(ENDING_NOTICES),
        )
    )
    reminders = await conn.fetch(
        'SELECT auction, "user", count(*) AS n FROM notification WHERE auction = ANY($1) '
        'AND notification_type = $2 GROUP BY auction, "user"',
        ids,
        NotificationType.auction_ending_soon.value,
    )
    emails = dict(
        await conn.fetch(
            "SELECT split_part(dedupe_key, ':', 2)::int AS a, count(*) FROM outbox_email "
            "WHERE CASE WHEN dedupe_key ~ '^auction_(won|lost|ended):' "
            "THEN split_part(dedupe_key, ':', 2)::int END = ANY($1) GROUP BY a",
            ids,
        )
    )
    fail = Failures()

    for aid, s in by_id.items():
        a = auctions.get(aid)
        if a is None or a["status"] != "ended":
            fail("not_ended", f"auction {aid} status {a and a['status']}")
            continue
        w = s.winner
        if (a["winner"] if a["winner"] is not None else None) != (w[0] if w else None):
            fail("winner", f"auction {aid} winner {a['winner']} expected {w and w[0]}")
        expected_orders = 1 if s.bids else 0
        if orders_per[aid] != expected_orders:
            fail("orders", f"auction {aid}: {orders_per[aid]} orders, expected {expected_orders}")
        if notes.get(aid, 0) != s.expected_rows:
            fail("notifications", f"auction {aid}: {notes.get(aid, 0)} != {s.expected_rows}")
        if emails.get(aid, 0) != s.expected_rows:
            fail("emails", f"auction {aid}: {emails.get(aid, 0)} != {s.expected_rows}")
    for r in reminders:
        if r["n"] > 1 or r["user"] not in {b[0] for b in by_id[r["auction"]].bids}:
            fail("reminders", f"auction {r['auction']}: user {r['user']} reminded {r['n']}x")
    for o in orders:
        s = by_id[o["auction"]]
        if s.winner is None or (o["buyer"], o["seller"], o["total_amount"]) != (
            s.winner[0],
            seller_id,
            s.final_price,
        ):
            fail("order_content", f"auction {o['auction']}: {dict(o)}")
    with_bids = sum(1 for s in specs if s.bids)
    return {
        "auctions": len(specs),
        "with_bids": with_bids,
        "ended": sum(1 for a in auctions.values() if a["status"] == "ended"),
        "still_active": sum(1 for a in auctions.values() if a["status"] == "active"),
        "orders": len(orders),
        "orders_expected": with_bids,
        "auctions_with_2plus_orders": sum(1 for c in orders_per.values() if c > 1),
        "notifications": sum(notes.values()),
        "notifications_expected": sum(s.expected_rows for s in specs),
        "ending_soon_reminders": sum(r["n"] for r in reminders),
        "outbox_emails": sum(emails.values()),
        "outbox_emails_expected": sum(s.expected_rows for s in specs),
        **fail.report(),
    }


async def verify_starts(
    conn: asyncpg.Connection, specs: list[Spec], told_seq: dict[int, int]
) -> dict[str, Any]:
    """What every start must have written: the auction ``active``, one ``auction_started``
    event stored with the seq the auction took (the one its watcher was told, ``told_seq``)."""
    ids = [s.id for s in specs]
    auctions = {
        r["id"]: r
        for r in await conn.fetch("SELECT id, status, seq FROM auction WHERE id = ANY($1)", ids)
    }
    started: dict[int, list[tuple[int, int]]] = {}  # auction -> (row seq, payload seq)
    events = await conn.fetch(
        "SELECT auction, seq, payload FROM auction_event WHERE auction = ANY($1)", ids
    )
    for r in events:
        payload = msgspec.json.decode(r["payload"])
        if payload.get("type") == "auction_started":
            started.setdefault(r["auction"], []).append((r["seq"], payload.get("seq")))
    fail = Failures()

    for aid in ids:
        a = auctions.get(aid)
        if a is None or a["status"] != "active":
            fail("not_active", f"auction {aid} status {a and a['status']}")
            continue
        seqs = started.get(aid, [])
        if len(seqs) != 1:
            fail("started_events", f"auction {aid}: {len(seqs)} auction_started events")
        elif seqs[0] != (a["seq"], a["seq"]):
            fail(
                "event_seq",
                f"auction {aid}: event (row, payload) seq {seqs[0]}, auction {a['seq']}",
            )
        elif aid in told_seq and told_seq[aid] != a["seq"]:
            fail("told_seq", f"auction {aid}: told seq {told_seq[aid]}, stored {a['seq']}")
    return {
        "auctions": len(ids),
        "active": sum(1 for a in auctions.values() if a["status"] == "active"),
        "still_scheduled": sum(1 for a in auctions.values() if a["status"] == "scheduled"),
        "started_events": sum(len(v) for v in started.values()),
        "auctions_with_2plus_started_events": sum(1 for v in started.values() if len(v) > 1),
        **fail.report(),
    }


async def db_change_times(
    conn: asyncpg.Connection, ids: list[int], status: str
) -> dict[int, datetime]:
    """updated_at of an auction now in ``status`` = statement_timestamp() of the UPDATE that
    ended or started it (nothing else writes these auctions' rows)."""
    rows = await conn.fetch(
        "SELECT id, updated_at FROM auction WHERE id = ANY($1) AND status = $2", ids, status
    )
    return {r["id"]: r["updated_at"] for r in rows}
