"""Order and feedback bodies."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Address(msgspec.Struct):
    id: int
    street_address: str
    city: int
    city_name: str
    province_name: str
    postal_code: str
    is_default: bool


class Order(msgspec.Struct):
    id: int
    order_number: str
    buyer: int
    buyer_username: str
    seller: int
    seller_username: str
    product: int
    product_name: str
    order_type: str
    quantity: int
    unit_price: str
    total_amount: str
    platform_fee: str
    seller_amount: str
    shipping_address: int | None
    shipping_address_detail: Address | None
    status: str
    payment_url: str
    payment_deadline: datetime
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None


class FeedbackCreate(msgspec.Struct):
    order_id: int
    seller_rating: int
    platform_rating: int
    communication_rating: int
    shipping_speed_rating: int
    seller_comment: str = ""
    platform_comment: str = ""
    product_as_described: bool = True


class Feedback(msgspec.Struct):
    id: int
    order: int
    buyer: int
    buyer_username: str
    seller: int
    seller_rating: int
    platform_rating: int
    communication_rating: int
    shipping_speed_rating: int
    seller_comment: str
    platform_comment: str
    product_as_described: bool
    created_at: datetime
    updated_at: datetime
