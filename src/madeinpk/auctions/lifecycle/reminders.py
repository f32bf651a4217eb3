"""Ending-soon reminders: ``ENDING_SOON_MINUTES`` before an auction's end, its watchers and its
bidders get one ``auction_ending_soon`` notification (pushed on ``/ws/notifications/``) and one
email, once per auction.

"Once" is a database rule: the transaction that sends an auction's reminders first inserts its
``ending_reminder`` row (unique per auction) and only the transaction whose insert went in
writes them, so the one-off task at end - N minutes, the sweep behind it and a racing worker
send them once between them, and a soft close that moves the end sends nothing again. Nothing
here writes or locks the auction row (the bid path's): the auction is read, the reminders are
rows of their own.

Who is reminded is decided when the reminders go: the watchers and bidders of that moment (not
the seller, who may watch their own auction). Someone who starts watching or bids later is not
reminded: the auction is already ending soon when they look at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from piccolo.engine.base import Engine

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.tables import Auction, AuctionStatus, EndingReminder
from madeinpk.db.sql import Dialect, transaction
from madeinpk.money import to_money
from madeinpk.notifications import texts
from madeinpk.notifications.emails import AUCTION_ENDING_SOON
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.notifications.texts import as_language
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

# Auctions reminded per transaction (a sweep after an outage may find many at once).
BATCH = 200
# A task may run a little before its time by this process's clock (clocks differ by a little).
EARLY = timedelta(seconds=5)

# Active, started, not ended, ending within the window, not reminded yet.
_DUE = """
    SELECT a.id FROM auction a
    WHERE a.status = '{active}' AND a.start_time <= :now AND a.end_time > :now
      AND a.end_time <= :until AND {which}
      AND NOT EXISTS (SELECT 1 FROM ending_reminder r WHERE r.auction = a.id)
    ORDER BY a.end_time, a.id
    LIMIT :limit
"""
_AUCTIONS = """
    SELECT a.id, a.current_price, a.end_time, a.leader, p.name, p.seller
    FROM auction a JOIN product p ON p.id = a.product
    WHERE a.id {among_auctions}
"""
# Each watcher and each bidder of each auction once (a bidder who watches too: once), with the
# language they are written to in.
_RECIPIENTS = """
    SELECT who.auction, who.person, MAX(who.bidder) AS bidder, u.username, u.email,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = who.person) AS language
    FROM (
        SELECT auction, "user" AS person, 0 AS bidder FROM watch WHERE auction {among_auctions}
        UNION ALL
        SELECT DISTINCT auction, bidder AS person, 1 AS bidder FROM bid
        WHERE auction {among_auctions}
    ) who JOIN piccolo_user u ON u.id = who.person
    GROUP BY who.auction, who.person, u.username, u.email
    ORDER BY who.auction, who.person
"""


def window(settings: Settings) -> timedelta | None:
    """How long before the end reminders go; None: no reminders (``ENDING_SOON_MINUTES=0``)."""
    minutes = settings.ending_soon_minutes
    return timedelta(minutes=minutes) if minutes > 0 else None


async def send_reminders(
    settings: Settings, ids: Sequence[int] = (), *, limit: int = BATCH
) -> tuple[list[int], AfterCommit]:
    """Remind, in one transaction, the watchers and bidders of the auctions ``ids`` (all due
    ones when empty) that are within the window and not reminded yet. Returns the auctions this
    call reminded, and what to do once committed (push, hand the emails over): the caller
    flushes it."""
    done = AfterCommit()
    ahead = window(settings)
    if ahead is None:
        return [], done
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        now = utc_now()
        spoken = db.dialect
        which = f"a.id {spoken.among('ids')}" if ids else "TRUE"
        due = await db.fetch(
            _DUE.format(active=AuctionStatus.active.value, which=which),
            now=now,
            until=now + ahead + EARLY,
            limit=limit,
            **({"ids": list(ids)} if ids else {}),
        )
        if not due:
            return [], done
        claimed = await db.insert_rows(
            EndingReminder,
            ("auction", "sent_at"),
            [(row["id"], now) for row in due],
            "ON CONFLICT (auction) DO NOTHING RETURNING auction",
        )
        reminded = sorted(row["auction"] for row in claimed)
        if not reminded:
            return [], done
        among = spoken.among("auctions")
        auctions = {
            row["id"]: row
            for row in await db.fetch(_AUCTIONS.format(among_auctions=among), auctions=reminded)
        }
        notices: list[tuple[Any, ...]] = []
        emails: list[tuple[Any, ...]] = []
        for person in await db.fetch(_RECIPIENTS.format(among_auctions=among), auctions=reminded):
            auction = auctions[person["auction"]]
            if person["person"] == auction["seller"]:
                continue
            notice, email = _reminder(settings, auction, person, now)
            notices.append(notice)
            emails.append(email)
        statements = [
            db.insert_sql(
                Notification,
                ("user", "notification_type", "title", "message", "auction", "created_at"),
                notices,
                prefix="nt",
            ),
            db.insert_sql(
                OutboxEmail,
                ("dedupe_key", "to_address", "subject", "body", "created_at"),
                emails,
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                prefix="em",
            ),
        ]
        queued: list[dict[str, Any]] = []
        if notices:
            (queued,) = await db.together(statements, 1)
    done.notify_users(n[0] for n in notices)
    done.send_emails([row["id"] for row in queued])
    return reminded, done


def _reminder(
    settings: Settings, auction: dict[str, Any], person: dict[str, Any], now: datetime
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One person's notification row and outbox email for one auction, in their language."""
    end = Dialect.timestamp(auction["end_time"])
    minutes = max(1, round((end - now).total_seconds() / 60))
    name, language = auction["name"], as_language(person["language"])
    price = to_money(auction["current_price"])
    if auction["leader"] == person["person"]:
        standing = texts.STANDING_LEADING
    elif person["bidder"]:
        standing = texts.STANDING_OUTBID
    else:
        standing = texts.STANDING_WATCHING
    title, message = texts.AUCTION_ENDING_SOON.render(
        language, product=name, minutes=minutes, amount=price
    )
    notice = (
        person["person"],
        NotificationType.auction_ending_soon.value,
        title,
        message,
        auction["id"],
        now,
    )
    subject, body = AUCTION_ENDING_SOON.render(
        language,
        username=person["username"],
        product=name,
        minutes=minutes,
        end_time=end.strftime("%Y-%m-%d %H:%M"),
        amount=price,
        standing=standing.render(language),
        auction_url=f"{settings.site_url}/auction/{auction['id']}",
    )
    key = f"auction_ending_soon:{auction['id']}:{person['person']}"
    return notice, (key, person["email"], subject, body, now)
