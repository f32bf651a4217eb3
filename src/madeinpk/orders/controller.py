"""``/api/orders/…`` and ``/api/feedbacks/``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from piccolo.columns.combination import Where

from madeinpk.accounts.addresses.service import address_bodies
from madeinpk.after_commit import Effects
from madeinpk.http.auth import Account, requires_account, requires_seller
from madeinpk.http.errors import NotFound, field_error
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.query import parse_int, require_int
from madeinpk.http.requests import AnyRequest
from madeinpk.http.responses import Message
from madeinpk.money import format_money
from madeinpk.orders import feedback, offers, service
from madeinpk.orders.schemas import (
    Address,
    Feedback,
    FeedbackCreate,
    FeedbackUpdate,
    Offer,
    Order,
    SellerStatistics,
    SellerStats,
    feedback_body,
    offer_body,
)
from madeinpk.orders.tables import OfferStatus, OrderStatus
from madeinpk.orders.tables import Order as OrderRow
from madeinpk.settings import Settings

PAID_OR_LATER = (OrderStatus.paid.value, OrderStatus.shipped.value, OrderStatus.delivered.value)
ORDER_COLUMNS = (
    *OrderRow.all_columns(),
    OrderRow.product.name.as_alias("product_name"),
    OrderRow.buyer.username.as_alias("buyer_username"),
    OrderRow.seller.username.as_alias("seller_username"),
)


def _order_body(
    row: dict[str, Any], viewer: Account, addresses: dict[int, Address], settings: Settings
) -> Order:
    # The seller sees where to ship only once the order is paid; the buyer always sees it.
    shows_address = viewer.id == row["buyer"] or row["status"] in PAID_OR_LATER or viewer.is_admin
    address_id = row["shipping_address"]
    return Order(
        id=row["id"],
        order_number=row["order_number"],
        buyer=row["buyer"],
        buyer_username=row["buyer_username"],
        seller=row["seller"],
        seller_username=row["seller_username"],
        product=row["product"],
        product_name=row["product_name"],
        order_type=row["order_type"],
        quantity=row["quantity"],
        unit_price=format_money(row["unit_price"]),
        total_amount=format_money(row["total_amount"]),
        platform_fee=format_money(row["platform_fee"]),
        seller_amount=format_money(row["seller_amount"]),
        shipping_address=address_id,
        shipping_address_detail=addresses.get(address_id) if shows_address and address_id else None,
        status=row["status"],
        payment_url=service.payment_url(settings, row["order_number"]),
        payment_deadline=row["payment_deadline"],
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        shipped_at=row["shipped_at"],
        delivered_at=row["delivered_at"],
    )


def _visible_to(account: Account) -> Where | Any:
    return (OrderRow.buyer == account.id) | (OrderRow.seller == account.id)


class OrderController(Controller):
    path = "/api/orders"
    tags = ["orders"]
    guards = [requires_account]

    @get("/", operation_id="ListOrders")
    async def list_orders(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        settings: NamedDependency[Settings],
        paging: NamedDependency[PageRequest],
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
    ) -> Page[Order]:
        if role not in (None, "", "buyer", "seller"):
            raise field_error(
                "role", f'Select a valid choice. "{role}" is not one of buyer, seller.'
            )
        where = {
            "buyer": OrderRow.buyer == account.id,
            "seller": OrderRow.seller == account.id,
        }.get(role or "", _visible_to(account))
        if status:
            if status not in {s.value for s in OrderStatus}:
                raise field_error(
                    "status",
                    f'Select a valid choice. "{status}" is not one of the available choices.',
                )
            where = where & (OrderRow.status == status)
        count = await OrderRow.count().where(where)
        rows = (
            await OrderRow.select(*ORDER_COLUMNS)
            .where(where)
            .order_by(OrderRow.created_at, ascending=False)
            .order_by(OrderRow.id, ascending=False)
            .offset(paging.offset)
            .limit(paging.size)
        )
        addresses = await address_bodies(
            {r["shipping_address"] for r in rows if r["shipping_address"]}
        )
        results = [_order_body(r, account, addresses, settings) for r in rows]
        return paging.build(request, count, results)

    @get("/{order_id:int}/", operation_id="GetOrder")
    async def get_order(
        self,
        account: NamedDependency[Account],
        order_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Order:
        row = await OrderRow.select(*ORDER_COLUMNS).where(OrderRow.id == order_id).first()
        if row is None or (
            account.id not in (row["buyer"], row["seller"]) and not account.is_admin
        ):
            raise NotFound()
        addresses = await address_bodies(
            {row["shipping_address"]} if row["shipping_address"] else set()
        )
        return _order_body(row, account, addresses, settings)

    @post(
        "/{order_id:int}/confirm_payment/", status_code=HTTP_200_OK, operation_id="ConfirmPayment"
    )
    async def confirm_payment(
        self,
        account: NamedDependency[Account],
        order_id: FromPath[int],
        effects: NamedDependency[Effects],
    ) -> Message:
        await service.confirm_payment(order_id, account, effects)
        return Message(message="Payment confirmed")

    @post("/{order_id:int}/mark_shipped/", status_code=HTTP_200_OK, operation_id="MarkShipped")
    async def mark_shipped(
        self, account: NamedDependency[Account], order_id: FromPath[int]
    ) -> Message:
        await service.mark_shipped(order_id, account)
        return Message(message="Order marked as shipped")

    @post(
        "/{order_id:int}/second_chance/",
        status_code=HTTP_201_CREATED,
        operation_id="MakeSecondChanceOffer",
    )
    async def second_chance(
        self,
        account: NamedDependency[Account],
        order_id: FromPath[int],
        settings: NamedDependency[Settings],
        effects: NamedDependency[Effects],
    ) -> Offer:
        """The seller offers a missed order's item to the next-highest bidder."""
        return offer_body(await offers.make_offer(order_id, account, settings, effects))


class OfferController(Controller):
    """``/api/offers/…``: second-chance offers, as their bidder (or seller) sees them."""

    path = "/api/offers"
    tags = ["orders"]
    guards = [requires_account]

    @get("/", operation_id="ListOffers")
    async def list_offers(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        paging: NamedDependency[PageRequest],
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
    ) -> Page[Offer]:
        if role not in (None, "", "bidder", "seller"):
            raise field_error(
                "role", f'Select a valid choice. "{role}" is not one of bidder, seller.'
            )
        if status and status not in {s.value for s in OfferStatus}:
            raise field_error(
                "status", f'Select a valid choice. "{status}" is not one of the available choices.'
            )
        count, rows = await offers.list_offers(
            account, role or None, status or None, paging.offset, paging.size
        )
        return paging.build(request, count, [offer_body(r) for r in rows])

    @get("/{offer_id:int}/", operation_id="GetOffer")
    async def get_offer(self, account: NamedDependency[Account], offer_id: FromPath[int]) -> Offer:
        return offer_body(await offers.visible_offer(offer_id, account))

    @post("/{offer_id:int}/accept/", status_code=HTTP_200_OK, operation_id="AcceptOffer")
    async def accept(
        self,
        account: NamedDependency[Account],
        offer_id: FromPath[int],
        settings: NamedDependency[Settings],
        effects: NamedDependency[Effects],
    ) -> Offer:
        """The offered bidder takes the item: a new order with its own payment deadline."""
        return offer_body(await offers.accept_offer(offer_id, account, settings, effects))

    @post("/{offer_id:int}/decline/", status_code=HTTP_200_OK, operation_id="DeclineOffer")
    async def decline(
        self,
        account: NamedDependency[Account],
        offer_id: FromPath[int],
        effects: NamedDependency[Effects],
    ) -> Offer:
        return offer_body(await offers.decline_offer(offer_id, account, effects))


class FeedbackController(Controller):
    path = "/api/feedbacks"
    tags = ["feedback"]

    @post(
        "/", status_code=HTTP_201_CREATED, guards=[requires_account], operation_id="CreateFeedback"
    )
    async def create(
        self, account: NamedDependency[Account], data: JSONBody[FeedbackCreate]
    ) -> Feedback:
        return feedback_body(await feedback.create_feedback(account, data))

    @get("/", operation_id="ListFeedback")
    async def list_feedback(
        self,
        request: AnyRequest,
        seller: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        page_size: FromQuery[str | None] = None,
    ) -> Page[Feedback]:
        seller_id = parse_int("seller", seller)
        paging = PageRequest.from_query(page, page_size)
        count, rows = await feedback.list_feedback(seller_id, paging.offset, paging.size)
        return paging.build(request, count, [feedback_body(r) for r in rows])

    # Declared before the ``{feedback_id:int}`` routes, and not an int anyway: never captured.
    @get("/seller_stats/", operation_id="SellerFeedbackStats")
    async def seller_stats(self, seller_id: FromQuery[str | None] = None) -> SellerStats:
        return await feedback.seller_stats(require_int("seller_id", seller_id))

    @get("/{feedback_id:int}/", operation_id="GetFeedback")
    async def get_feedback(self, feedback_id: FromPath[int]) -> Feedback:
        return feedback_body(await feedback.get_feedback(feedback_id))

    @patch("/{feedback_id:int}/", guards=[requires_account], operation_id="UpdateFeedback")
    async def update_feedback(
        self,
        account: NamedDependency[Account],
        feedback_id: FromPath[int],
        data: JSONBody[FeedbackUpdate],
    ) -> Feedback:
        row = await feedback.update_feedback(account, feedback_id, data)
        return feedback_body(row)

    @delete("/{feedback_id:int}/", guards=[requires_account], operation_id="DeleteFeedback")
    async def delete_feedback(
        self, account: NamedDependency[Account], feedback_id: FromPath[int]
    ) -> None:
        await feedback.delete_feedback(account, feedback_id)


@get(
    "/api/seller/statistics/",
    guards=[requires_seller],
    tags=["auctions"],
    operation_id="SellerStatistics",
)
async def seller_statistics(account: NamedDependency[Account]) -> SellerStatistics:
    return await service.seller_statistics(account)
