"""Second-chance offers left unanswered: each expires once (whoever gets there first: the sweep
or a late answer), and its seller is told."""

from __future__ import annotations

from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.db.database import write_transaction
from madeinpk.db.sql import raw
from madeinpk.notifications import texts
from madeinpk.notifications.service import collecting_notified, notify
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import as_language
from madeinpk.orders.tables import Offer, OfferStatus, Order
from madeinpk.timestamps import utc_now

# What the seller of an expired offer is told about, and in which language.
_TOLD = """
    SELECT p.name, (SELECT pr.language FROM user_profile pr WHERE pr."user" = :seller) AS language
    FROM auction_order o LEFT JOIN product p ON p.id = o.product
    WHERE o.id = :order
"""


async def expire_offer(offer_id: int) -> set[int]:
    """A pending offer past its window becomes ``expired`` (once), and its seller is told, in
    their language. Returns the users to ping (none: another worker got there first)."""
    now = utc_now()
    with collecting_notified() as notified:
        async with write_transaction():
            moved = (
                await Offer.update({Offer.status: OfferStatus.expired.value, Offer.decided_at: now})
                .where(
                    (Offer.id == offer_id)
                    & (Offer.status == OfferStatus.pending.value)
                    & (Offer.expires_at <= now)
                )
                .returning(Offer.seller, Offer.order, Offer.auction)
            )
            if not moved:
                return set()
            offer = moved[0]
            told = await raw(Order, _TOLD, seller=offer["seller"], order=offer["order"])
            language = as_language(told[0]["language"] if told else None)
            name = told[0]["name"] if told and told[0]["name"] else None
            await notify(
                offer["seller"],
                NotificationType.offer_expired,
                *texts.OFFER_EXPIRED.render(
                    language, product=name or texts.YOUR_ITEM.render(language)
                ),
                order_id=offer["order"],
                auction_id=offer["auction"],
            )
    return notified


async def expire_due_offers(effects: Effects, limit: int = 500) -> int:
    """The sweep's share (``orders.tasks``): every pending offer past its window."""
    rows = (
        await Offer.select(Offer.id)
        .where((Offer.status == OfferStatus.pending.value) & (Offer.expires_at <= utc_now()))
        .limit(limit)
    )
    expired = 0
    for row in rows:
        if notified := await expire_offer(row["id"]):
            expired += 1
            done = AfterCommit()
            done.notify_users(notified)
            effects.flush(done)
    return expired
