"""What second-chance offers tell people (docs/auction-rules.md § Second-chance offer), each in
their own language: the bidder offered the item (a notice and an email), and the seller of the
bidder's answer (a notice and an email). Written in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from piccolo.apps.user.tables import BaseUser

from madeinpk.db.sql import raw
from madeinpk.money import to_money
from madeinpk.notifications import texts
from madeinpk.notifications.emails import OFFER_ANSWERED, SECOND_CHANCE_OFFER
from madeinpk.notifications.service import notify, queue_email
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import Notice, Text, as_language

# Whom an offer or its answer is written to: their name and address, and their language.
_RECIPIENT = """
    SELECT u.username, u.email,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = u.id) AS language
    FROM piccolo_user u WHERE u.id = :user
"""


async def recipient(user_id: int) -> dict[str, Any]:
    """``username``, ``email`` and ``language`` (a ``Language``) of a user."""
    [row] = await raw(BaseUser, _RECIPIENT, user=user_id)
    return {**row, "language": as_language(row["language"])}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def tell_bidder(
    bidder: dict[str, Any],
    offer_id: int,
    order: dict[str, Any],
    amount: Decimal,
    expires_at: datetime,
    hours: int,
) -> list[int]:
    """The offered bidder's (``recipient`` with ``bidder``, their id) notice and email of the
    offer of ``order``'s item; the email's id."""
    name, language = order["product_name"], bidder["language"]
    await notify(
        bidder["bidder"],
        NotificationType.second_chance_offer,
        *texts.SECOND_CHANCE_OFFER.render(
            language, product=name, amount=amount, expires_at=stamp(expires_at)
        ),
        order_id=order["id"],
        auction_id=order["auction"],
    )
    subject, body = SECOND_CHANCE_OFFER.render(
        language,
        username=bidder["username"],
        product=name,
        amount=amount,
        expires_at=stamp(expires_at),
        hours=hours,
    )
    email_id = await queue_email(f"second_chance_offer:{offer_id}", bidder["email"], subject, body)
    return [email_id] if email_id is not None else []


@dataclass(frozen=True, slots=True)
class Answer:
    """How the seller hears of an answer: its notice, the word for it in the email (English:
    the dedupe key's too) and the email's next step."""

    kind: NotificationType
    notice: Notice
    word: Text
    next_step: Text


ACCEPTED = Answer(
    NotificationType.offer_accepted,
    texts.OFFER_ACCEPTED_SELLER,
    texts.ACCEPTED,
    texts.NEXT_STEP_ACCEPTED,
)
DECLINED = Answer(
    NotificationType.offer_declined, texts.OFFER_DECLINED, texts.DECLINED, texts.NEXT_STEP_DECLINED
)


async def tell_seller(
    offer: dict[str, Any], answer: Answer, order_id: int, **values: object
) -> list[int]:
    """The seller's notice and email of the bidder's answer to ``offer`` (``values``: what the
    answer's texts need besides the offer's), in the seller's language; the email's id."""
    seller = await recipient(offer["seller"])
    language = seller["language"]
    about: dict[str, object] = {
        "bidder": offer["bidder_username"],
        "product": offer["product_name"],
        "amount": to_money(offer["amount"]),
    }
    await notify(
        offer["seller"],
        answer.kind,
        *answer.notice.render(language, **about, **values),
        order_id=order_id,
        auction_id=offer["auction"],
    )
    subject, body = OFFER_ANSWERED.render(
        language,
        username=offer["seller_username"],
        outcome=answer.word.render(language),
        next_step=answer.next_step.render(language, **values),
        **about,
    )
    key = f"offer_{answer.word.en}:{offer['id']}"
    email_id = await queue_email(key, seller["email"], subject, body)
    return [email_id] if email_id is not None else []
