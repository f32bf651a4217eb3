"""Second-chance offers left unanswered: each expires once (whoever gets there first: the sweep
or a late answer), and its seller is told."""

from __future__ import annotations

from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.db.database import write_transaction
from madeinpk.notifications.service import collecting_notified, notify
from madeinpk.notifications.tables import NotificationType
from madeinpk.orders.tables import Offer, OfferStatus, Order
from madeinpk.timestamps import utc_now


async def expire_offer(offer_id: int) -> set[int]:
    """A pending offer past its window becomes ``expired`` (once), and its seller is told.
    Returns the users to ping (none: another worker got there first)."""
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
            product = (
                await Order.select(Order.product.name.as_alias("name"))
                .where(Order.id == moved[0]["order"])
                .first()
            )
            await notify(
                moved[0]["seller"],
                NotificationType.offer_expired,
                "Second-chance offer expired",
                f"Your offer for {product['name'] if product else 'your item'} was not "
                "answered in time.",
                order_id=moved[0]["order"],
                auction_id=moved[0]["auction"],
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
