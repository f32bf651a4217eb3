"""What an ended auction comes to: its outcome (``EndedAuction``), the order of a won one (written
through ``OrderWriter``: orders sit above auctions), and the notices and emails that tell the
winner, the other bidders and the seller (``Ending``). ``endings`` writes them, a batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from piccolo.table import Table

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.events import auction_ended_payload
from madeinpk.db.sql import Dialect
from madeinpk.money import to_money
from madeinpk.notifications import emails, texts
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import Language, Notice, as_language
from madeinpk.settings import Settings


class OrderWriter(Protocol):
    """How a won auction becomes its order, written in the ending's own transaction. Orders sit
    above auctions, so this domain declares what it needs and ``orders.service.AUCTION_ORDERS``
    answers it; the assembly hands it to the process's ``Endings`` (``madeinpk.tasks``)."""

    @property
    def table(self) -> type[Table]: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    def row(
        self,
        *,
        auction_id: int,
        product_id: int,
        buyer_id: int,
        seller_id: int,
        amount: Decimal,
        ended_at: datetime,
        address_id: int | None,
        settings: Settings,
        now: datetime,
    ) -> tuple[tuple[Any, ...], str]:
        """The order's row (in ``columns`` order) and its number."""
        ...

    def payment_url(self, settings: Settings, order_number: str) -> str: ...


@dataclass(slots=True)
class EndedAuction:
    auction_id: int
    seq: int
    end_time: datetime
    product_name: str
    winner: str | None
    final_price: Decimal
    reserve_met: bool | None = None
    encoded: bytes = b""
    buy_now: bool = False  # ended by Buy It Now

    def payload(self) -> bytes:
        """The ``auction_ended`` event, encoded once: stored and broadcast alike."""
        if not self.encoded:
            self.encoded = auction_ended_payload(
                self.auction_id,
                self.seq,
                self.winner,
                self.final_price,
                self.product_name,
                self.reserve_met,
                self.buy_now,
            )
        return self.encoded


@dataclass(slots=True)
class EndedBatch:
    """What one ending transaction did."""

    ended: list[EndedAuction] = field(default_factory=list)
    # Requested auctions it did not end and that are still active: their end time in force
    # (not due yet by the database clock, or held by a bid for a moment).
    still_active: dict[int, datetime] = field(default_factory=dict)
    notified: set[int] = field(default_factory=set)  # users with new notifications
    email_ids: list[int] = field(default_factory=list)
    relisted: dict[int, datetime] = field(default_factory=dict)  # auto relists: their end time

    def after_commit(self) -> AfterCommit:
        done = AfterCommit()
        for auction_id, end_time in self.relisted.items():
            done.schedule_ending(auction_id, end_time)
        done.notify_users(self.notified)
        for ended in self.ended:
            done.broadcast(ended.auction_id, ended.seq, ended.payload())
        done.send_emails(self.email_ids)
        return done


@dataclass(slots=True)
class Bidder:
    id: int
    username: str
    email: str
    winning: bool
    amount: Decimal | None
    address: int | None
    language: Language = Language.en  # of the notices and emails written to them


class Ending:
    """One closed auction: its outcome, and the notices and emails that tell it (in the order
    the winner, the other bidders, the seller)."""

    def __init__(
        self,
        row: dict[str, Any],
        seller: dict[str, Any],
        bidders: list[Bidder],
    ) -> None:
        self.auction_id: int = row["id"]
        self.product_id: int = row["product"]
        self.seller_id: int = seller["seller"]
        self.seller = seller
        self.bidders = bidders
        self.top = next((b for b in bidders if b.winning), None)
        self.order_number = ""
        self.notices: list[tuple[Any, ...]] = []
        self.emails: list[tuple[Any, ...]] = []
        ended = EndedAuction(
            self.auction_id,
            row["seq"],
            Dialect.timestamp(row["end_time"]),
            seller["name"],
            None,
            to_money(row["current_price"]),
        )
        reserve = row["reserve_price"]
        if reserve is not None:
            ended.reserve_met = (
                self.top is not None
                and self.top.amount is not None
                and self.top.amount >= to_money(reserve)
            )
        if self.top is not None and self.top.amount is not None:
            ended.final_price = self.top.amount
            if ended.reserve_met is not False:
                ended.winner = self.top.username
        self.ended = ended

    def write(
        self, order_id: int | None, settings: Settings, writer: OrderWriter, now: datetime
    ) -> None:
        """Each notice and email in its recipient's language (``texts``, ``emails``)."""
        ended, name, top = self.ended, self.ended.product_name, self.top
        if top is None:
            self._tell_seller(texts.ENDED_NO_BIDS, now)
            return
        if ended.reserve_met is False:
            # No sale: the seller and the highest bidder are told (auction-rules.md § 8).
            title, message = texts.RESERVE_NOT_MET.render(top.language, product=name)
            self._notice(top.id, NotificationType.auction_lost, title, message, now)
            subject, body = emails.RESERVE_NOT_MET.render(
                top.language, username=top.username, message=message
            )
            self._email(f"auction_lost:{self.auction_id}:{top.id}", top.email, subject, body, now)
            self._tell_seller(texts.ENDED_RESERVE_NOT_MET, now)
            return
        price = ended.final_price
        hours = settings.payment_deadline_hours
        url = writer.payment_url(settings, self.order_number)
        self._notice(
            top.id,
            NotificationType.auction_won,
            *texts.AUCTION_WON.render(top.language, product=name, hours=hours, payment_url=url),
            now,
            order_id,
        )
        subject, body = emails.AUCTION_WON.render(
            top.language,
            username=top.username,
            product=name,
            amount=price,
            order_number=self.order_number,
            hours=hours,
            payment_url=url,
        )
        self._email(f"auction_won:{self.auction_id}", top.email, subject, body, now)
        for loser in self.bidders:
            if loser.id == top.id:
                continue
            self._notice(
                loser.id,
                NotificationType.auction_lost,
                *texts.AUCTION_LOST.render(loser.language, product=name, amount=price),
                now,
            )
            subject, body = emails.AUCTION_LOST.render(
                loser.language, username=loser.username, product=name, amount=price
            )
            key = f"auction_lost:{self.auction_id}:{loser.id}"
            self._email(key, loser.email, subject, body, now)
        self._tell_seller(texts.ENDED_SOLD, now)

    def _tell_seller(self, notice: Notice, now: datetime) -> None:
        ended, top = self.ended, self.top
        language = as_language(self.seller.get("language"))
        values: dict[str, object] = {"product": ended.product_name}
        if top is not None:
            values["winner"] = top.username
        title, message = notice.render(language, **values)
        self._notice(self.seller_id, NotificationType.auction_ended, title, message, now)
        outcome = message
        if ended.winner and ended.reserve_met is not False:
            outcome = texts.SOLD_OUTCOME.render(language, amount=ended.final_price, **values)
        subject, body = emails.AUCTION_ENDED_SELLER.render(
            language,
            username=str(self.seller["username"]),
            product=ended.product_name,
            outcome=outcome,
        )
        key = f"auction_ended:{self.auction_id}"
        self._email(key, str(self.seller["email"]), subject, body, now)

    def _notice(
        self,
        user_id: int,
        kind: NotificationType,
        title: str,
        message: str,
        now: datetime,
        order_id: int | None = None,
    ) -> None:
        self.notices.append((user_id, kind.value, title, message, self.auction_id, order_id, now))

    def _email(self, key: str, to: str, subject: str, body: str, now: datetime) -> None:
        self.emails.append((key, to, subject, body, now))
