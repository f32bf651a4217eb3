"""Product queries and presentation, shared by the product and auction endpoints.

A page of products costs a fixed number of queries (rows, images, seller profiles, listings),
however many products it holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol, runtime_checkable

from madeinpk.accounts.tables import SellerProfile
from madeinpk.catalog.schemas import Image, Product, ProductSellerProfile
from madeinpk.catalog.tables import Product as ProductRow
from madeinpk.catalog.tables import ProductImage
from madeinpk.db.read_replicas import stale_read
from madeinpk.media import absolute_media_url
from madeinpk.money import format_money


@runtime_checkable  # Litestar checks a dependency's value against its type
class Listings(Protocol):
    """How products are being sold. The catalogue asks; the selling domain answers (the app
    factory provides ``auctions.listing.PRODUCT_LISTINGS`` as the ``listings`` dependency), so
    the catalogue stays independent of how it is sold."""

    async def listing_types(self, product_ids: list[int]) -> dict[int, str]:
        """The listing type (``"auction"``) of each of these products that is listed."""
        ...

    async def has_bids(self, product_id: int) -> bool:
        """Whether someone has bid for this product (it can no longer be edited)."""
        ...


PRODUCT_COLUMNS = (
    *ProductRow.all_columns(),
    ProductRow.seller.username.as_alias("seller_username"),
    ProductRow.category.name.as_alias("category_name"),
)


async def product_bodies(
    rows: list[dict[str, Any]], base_url: str, listings: Listings
) -> list[Product]:
    """``rows`` are selected with ``PRODUCT_COLUMNS`` (or the same aliases). Its reads may be a
    replica's: after a write, the request (and the writer's next ones) read on the primary."""
    if not rows:
        return []
    product_ids = [r["id"] for r in rows]
    seller_ids = list({r["seller"] for r in rows})
    images = await stale_read(
        ProductImage.select()
        .where(ProductImage.product.is_in(product_ids))
        .order_by(ProductImage.display_order)
        .order_by(ProductImage.id)
    )
    profiles = await stale_read(
        SellerProfile.select(
            SellerProfile.user,
            SellerProfile.brand_name,
            SellerProfile.biography,
            SellerProfile.is_verified,
            SellerProfile.average_rating,
        ).where(SellerProfile.user.is_in(seller_ids))
    )
    listing_types = await listings.listing_types(product_ids)
    images_of: dict[int, list[Image]] = defaultdict(list)
    for image in images:
        url = absolute_media_url(base_url, image["image"]) or ""
        images_of[image["product"]].append(
            Image(
                id=image["id"],
                image=url,
                image_url=url,
                is_primary=bool(image["is_primary"]),
                order=image["display_order"],
            )
        )
    profile_of = {
        p["user"]: ProductSellerProfile(
            brand_name=p["brand_name"],
            biography=p["biography"],
            is_verified=bool(p["is_verified"]),
            average_rating=format_money(p["average_rating"]),
        )
        for p in profiles
    }
    return [
        Product(
            id=r["id"],
            seller=r["seller"],
            seller_username=r["seller_username"],
            category=r["category"],
            category_name=r["category_name"],
            name=r["name"],
            description=r["description"],
            condition=r["condition"],
            images=images_of.get(r["id"], []),
            listing_type=listing_types.get(r["id"]),
            seller_profile=profile_of.get(r["seller"]),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def product_body(product_id: int, base_url: str, listings: Listings) -> Product | None:
    row = await stale_read(
        ProductRow.select(*PRODUCT_COLUMNS).where(ProductRow.id == product_id).first()
    )
    if row is None:
        return None
    [body] = await product_bodies([row], base_url, listings)
    return body
