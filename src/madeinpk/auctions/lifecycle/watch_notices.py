"""What the watchers of a scheduled auction are told when it opens: one ``auction_started``
notification (pushed on ``/ws/notifications/``) and one email each, written in the start
transaction itself (``lifecycle.starts``), so they exist exactly when the start committed and
go out after it, through ``AfterCommit``. The start is exactly-once (a conditional update), and
the emails carry the outbox's dedupe key besides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from madeinpk.after_commit import AfterCommit
from madeinpk.db.sql import Connection
from madeinpk.money import to_money
from madeinpk.notifications import texts
from madeinpk.notifications.emails import AUCTION_STARTED
from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.notifications.texts import as_language

# Each watcher of each auction (never its seller), with what the texts need and their language.
_WATCHERS = """
    SELECT w.auction, w."user" AS person, u.username, u.email, p.name, a.starting_price,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = w."user") AS language
    FROM watch w
    JOIN auction a ON a.id = w.auction
    JOIN product p ON p.id = a.product
    JOIN piccolo_user u ON u.id = w."user"
    WHERE w.auction {among_auctions} AND w."user" <> p.seller
    ORDER BY w.auction, w."user"
"""


async def tell_watchers_started(
    db: Connection, auction_ids: Sequence[int], done: AfterCommit, now: datetime
) -> None:
    """In the caller's (the start's) transaction: the notices and emails of the watchers of
    ``auction_ids``, which just opened; ``done`` pushes and hands them over once committed."""
    if not auction_ids:
        return
    among = db.dialect.among("auctions")
    watchers = await db.fetch(_WATCHERS.format(among_auctions=among), auctions=list(auction_ids))
    if not watchers:
        return
    notices: list[tuple[Any, ...]] = []
    emails: list[tuple[Any, ...]] = []
    for w in watchers:
        price, language = to_money(w["starting_price"]), as_language(w["language"])
        notices.append(
            (
                w["person"],
                NotificationType.auction_started.value,
                *texts.AUCTION_STARTED.render(language, product=w["name"], amount=price),
                w["auction"],
                now,
            )
        )
        subject, body = AUCTION_STARTED.render(
            language, username=w["username"], product=w["name"], amount=price
        )
        key = f"auction_started:{w['auction']}:{w['person']}"
        emails.append((key, w["email"], subject, body, now))
    statements = [
        db.insert_sql(
            Notification,
            ("user", "notification_type", "title", "message", "auction", "created_at"),
            notices,
            prefix="sn",
        ),
        db.insert_sql(
            OutboxEmail,
            ("dedupe_key", "to_address", "subject", "body", "created_at"),
            emails,
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            prefix="se",
        ),
    ]
    (queued,) = await db.together(statements, 1)
    done.notify_users(n[0] for n in notices)
    done.send_emails([row["id"] for row in queued])
