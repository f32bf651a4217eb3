"""Second-chance offers (docs/auction-rules.md § Second-chance offer).

When a winner misses the payment deadline the order stays ``payment_failed`` (as before: the
violation is counted and the run cancelled). Its seller may then offer the item once to the
next-highest distinct bidder who is not blocked (``offer_choice``) at that bidder's highest bid.
The bidder accepts (a new order of the same run, with its own payment deadline) or declines; an
unanswered offer expires. Every move is one conditional UPDATE on the offer's status, so it
happens once whoever races it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from madeinpk.accounts.tables import Address
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.db.database import is_unique_violation, write_transaction
from madeinpk.http.auth import Account
from madeinpk.http.errors import BusinessError, NotFound
from madeinpk.money import to_money
from madeinpk.notifications import texts
from madeinpk.notifications.service import collecting_notified, notify
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import as_language
from madeinpk.orders.offer_choice import had_their_chance, offered_bidder
from madeinpk.orders.offer_expiry import expire_offer
from madeinpk.orders.offer_notices import ACCEPTED, DECLINED, tell_bidder, tell_seller
from madeinpk.orders.service import ORDER_COLUMNS, auction_order_row, payment_url
from madeinpk.orders.tables import Offer, OfferStatus, Order, OrderStatus
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

NOT_SELLER = "Only the seller can make a second-chance offer"
NOT_MISSED = "A second-chance offer can only be made for an order whose payment deadline was missed"
NO_AUCTION = "This order has no auction to offer from"
ALREADY_OFFERED = "A second-chance offer was already made for this order"
NO_BIDDER = "No other bidder to offer the item to"
NOT_BIDDER = "Only the offered bidder can answer this offer"
EXPIRED = "This offer has expired"

OFFER_COLUMNS = (
    *Offer.all_columns(),
    Offer.bidder.username.as_alias("bidder_username"),
    Offer.seller.username.as_alias("seller_username"),
    Offer.order._.product.as_alias("product"),
    Offer.order._.product._.name.as_alias("product_name"),
)


def offer_window(settings: Settings) -> timedelta:
    """How long a bidder has to answer: as long as a winner has to pay."""
    return timedelta(hours=settings.payment_deadline_hours)


async def offer_body_row(offer_id: int) -> dict[str, Any]:
    row = await Offer.select(*OFFER_COLUMNS).where(Offer.id == offer_id).first()
    if row is None:
        raise NotFound()
    return row


async def make_offer(
    order_id: int, account: Account, settings: Settings, effects: Effects
) -> dict[str, Any]:
    """``POST /api/orders/{id}/second_chance/``: the seller offers the missed order's item."""
    order = (
        await Order.select(
            Order.id,
            Order.buyer,
            Order.seller,
            Order.status,
            Order.auction,
            Order.order_number,
            Order.product.name.as_alias("product_name"),
        )
        .where(Order.id == order_id)
        .first()
    )
    if order is None:
        raise NotFound()
    if account.id != order["seller"]:
        if account.id == order["buyer"] or account.is_admin:
            raise BusinessError(NOT_SELLER, 403)
        raise NotFound()
    if order["status"] != OrderStatus.payment_failed.value:
        raise BusinessError(NOT_MISSED)
    if order["auction"] is None:
        raise BusinessError(NO_AUCTION)
    if await Offer.exists().where(Offer.order == order_id):
        raise BusinessError(ALREADY_OFFERED)
    now = utc_now()
    expires_at = now + offer_window(settings)
    emails: list[int] = []
    try:
        with collecting_notified() as notified:
            async with write_transaction():
                excluded = await had_their_chance(order["auction"])
                bidder = await offered_bidder(order["auction"], excluded)
                if bidder is None:
                    raise BusinessError(NO_BIDDER)
                amount = Decimal(bidder["amount"])
                rows = await Offer.insert(
                    Offer(
                        order=order_id,
                        auction=order["auction"],
                        bidder=bidder["bidder"],
                        seller=account.id,
                        amount=amount,
                        status=OfferStatus.pending.value,
                        expires_at=expires_at,
                        created_at=now,
                        decided_at=None,
                        new_order=None,
                    )
                ).returning(Offer.id)
                offer_id = int(rows[0]["id"])
                emails += await tell_bidder(
                    bidder, offer_id, order, amount, expires_at, settings.payment_deadline_hours
                )
    except Exception as exc:
        if is_unique_violation(exc):  # a second request for the same order, a moment later
            raise BusinessError(ALREADY_OFFERED) from None
        raise
    done = AfterCommit(email_ids=emails)
    done.notify_users(notified)
    effects.flush(done)
    return await offer_body_row(offer_id)


async def _answerable(offer_id: int, account: Account) -> dict[str, Any]:
    offer = await offer_body_row(offer_id)
    if account.id != offer["bidder"]:
        if account.id == offer["seller"] or account.is_admin:
            raise BusinessError(NOT_BIDDER, 403)
        raise NotFound()
    return offer


def _refusal(status: str) -> BusinessError:
    if status == OfferStatus.expired.value:
        return BusinessError(EXPIRED)
    return BusinessError(f"This offer is no longer pending (it was {status})")


async def _expire_if_due(offer: dict[str, Any], effects: Effects) -> None:
    """An answer after the window: the offer is recorded expired (the seller told) first."""
    if offer["status"] == OfferStatus.pending.value and offer["expires_at"] <= utc_now():
        notified = await expire_offer(offer["id"])
        if notified:
            done = AfterCommit()
            done.notify_users(notified)
            effects.flush(done)
        raise BusinessError(EXPIRED)


async def _pending(offer_id: int, account: Account, effects: Effects) -> dict[str, Any]:
    """The offer its bidder is answering, still pending and not yet due to expire."""
    offer = await _answerable(offer_id, account)
    if offer["status"] != OfferStatus.pending.value:
        raise _refusal(offer["status"])
    await _expire_if_due(offer, effects)
    return offer


async def _answer(offer_id: int, answer: OfferStatus, now: datetime) -> None:
    """In the caller's transaction, move the offer from pending to ``answer`` on condition that
    it is still pending and unexpired; an answer or expiry that got there first is refused as
    what it left."""
    moved = (
        await Offer.update({Offer.status: answer.value, Offer.decided_at: now})
        .where(
            (Offer.id == offer_id)
            & (Offer.status == OfferStatus.pending.value)
            & (Offer.expires_at > now)
        )
        .returning(Offer.id)
    )
    if not moved:
        current = await offer_body_row(offer_id)
        raise _refusal(current["status"])


async def accept_offer(
    offer_id: int, account: Account, settings: Settings, effects: Effects
) -> dict[str, Any]:
    """The bidder takes the item: a new order of the same run at the offered amount, with its
    own payment deadline; the missed order stays as it is."""
    offer = await _pending(offer_id, account, effects)
    now = utc_now()
    emails: list[int] = []
    with collecting_notified() as notified:
        async with write_transaction():
            await _answer(offer_id, OfferStatus.accepted, now)
            address = (
                await Address.select(Address.id)
                .where((Address.user == account.id) & (Address.is_default == True))  # noqa: E712
                .order_by(Address.id)
                .first()
            )
            row, number = auction_order_row(
                auction_id=offer["auction"],
                product_id=offer["product"],
                buyer_id=account.id,
                seller_id=offer["seller"],
                amount=to_money(offer["amount"]),
                ended_at=now,
                address_id=address["id"] if address else None,
                settings=settings,
                now=now,
            )
            inserted = await Order.insert(
                Order(**dict(zip(ORDER_COLUMNS, row, strict=True)))
            ).returning(Order.id)
            new_order = int(inserted[0]["id"])
            await Offer.update({Offer.new_order: new_order}).where(Offer.id == offer_id)
            amount = to_money(offer["amount"])
            hours = settings.payment_deadline_hours
            await notify(
                account.id,
                NotificationType.offer_accepted,
                *texts.OFFER_ACCEPTED.render(
                    as_language(account.language),
                    product=offer["product_name"],
                    amount=amount,
                    hours=hours,
                    payment_url=payment_url(settings, number),
                ),
                order_id=new_order,
                auction_id=offer["auction"],
            )
            emails += await tell_seller(
                offer, ACCEPTED, new_order, order_number=number, hours=hours
            )
    done = AfterCommit(email_ids=emails)
    done.notify_users(notified)
    effects.flush(done)
    return await offer_body_row(offer_id)


async def decline_offer(offer_id: int, account: Account, effects: Effects) -> dict[str, Any]:
    offer = await _pending(offer_id, account, effects)
    now = utc_now()
    emails: list[int] = []
    with collecting_notified() as notified:
        async with write_transaction():
            await _answer(offer_id, OfferStatus.declined, now)
            emails += await tell_seller(offer, DECLINED, offer["order"])
    done = AfterCommit(email_ids=emails)
    done.notify_users(notified)
    effects.flush(done)
    return await offer_body_row(offer_id)


async def list_offers(
    account: Account, role: str | None, status: str | None, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The caller's offers, newest first: as the bidder (default ``role``), or as the seller."""
    where: Any = (Offer.seller if role == "seller" else Offer.bidder) == account.id
    if status:
        where &= Offer.status == status
    count = await Offer.count().where(where)
    rows = (
        await Offer.select(*OFFER_COLUMNS)
        .where(where)
        .order_by(Offer.id, ascending=False)
        .offset(offset)
        .limit(limit)
    )
    return count, rows


async def visible_offer(offer_id: int, account: Account) -> dict[str, Any]:
    offer = await offer_body_row(offer_id)
    if account.id not in (offer["bidder"], offer["seller"]) and not account.is_admin:
        raise NotFound()
    return offer
