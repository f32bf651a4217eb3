"""Catalogue queries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from msgspec import UNSET

from madeinpk.catalog.products import PRODUCT_COLUMNS, Listings
from madeinpk.catalog.schemas import Category as CategoryBody
from madeinpk.catalog.schemas import ProductUpdate
from madeinpk.catalog.search import ProductSearch
from madeinpk.catalog.tables import Category, Condition, Product, ProductImage
from madeinpk.db.database import write_transaction
from madeinpk.db.read_replicas import stale_read
from madeinpk.db.sql import raw
from madeinpk.http.auth import Account
from madeinpk.http.bodies import to_struct
from madeinpk.http.errors import (
    REQUIRED,
    BusinessError,
    FieldErrorCollector,
    FieldErrors,
    NotFound,
    PermissionDenied,
    field_error,
)
from madeinpk.http.query import parse_id_filter
from madeinpk.media import (
    MAX_IMAGES,
    CleanImage,
    InvalidImage,
    MediaWriter,
    clean_images,
    delete_media,
)
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now


async def _category_tree() -> tuple[dict[int, dict[str, Any]], dict[int | None, list[int]]]:
    """The whole tree in one query: categories are a few dozen rows, read far more than written
    (and changed only by staff, through the admin: a replica's few seconds do not matter)."""
    rows = await stale_read(Category.select().order_by(Category.id))
    by_id = {row["id"]: row for row in rows}
    children: dict[int | None, list[int]] = defaultdict(list)
    for row in rows:
        children[row["parent"]].append(row["id"])
    return by_id, children


def _body(
    category_id: int, by_id: dict[int, dict[str, Any]], children: dict[int | None, list[int]]
) -> CategoryBody:
    row = by_id[category_id]
    return CategoryBody(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        parent=row["parent"],
        subcategories=[_body(child, by_id, children) for child in children.get(category_id, [])],
    )


async def root_categories(offset: int, limit: int) -> tuple[int, list[CategoryBody]]:
    by_id, children = await _category_tree()
    roots = children.get(None, [])
    return len(roots), [_body(i, by_id, children) for i in roots[offset : offset + limit]]


async def category(category_id: int) -> CategoryBody | None:
    by_id, children = await _category_tree()
    return _body(category_id, by_id, children) if category_id in by_id else None


# --- products ----------------------------------------------------------------------------------


def parse_product(
    errors: FieldErrorCollector, form: dict[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    """The product fields of a JSON body or a form, read through ``ProductUpdate`` (a field
    that does not fit is in ``errors``, and left out); ``partial`` leaves absent ones out, else
    a name and a description are required and the condition defaults to new."""
    data = to_struct(form, ProductUpdate, errors)
    values: dict[str, Any] = {}
    for field in ("name", "description"):
        text = getattr(data, field)
        if isinstance(text, str):
            values[field] = text
        elif not partial and field not in errors.errors:
            errors.add(field, REQUIRED)
    if isinstance(data.condition, Condition):
        values["condition"] = data.condition.value
    elif not partial and "condition" not in errors.errors:
        values["condition"] = Condition.new.value
    if data.category is not UNSET:
        values["category"] = data.category
    return values


async def check_category(errors: FieldErrorCollector, values: dict[str, Any]) -> None:
    category = values.get("category")
    if category is not None and not await Category.exists().where(Category.id == category):
        errors.add("category", f'Invalid pk "{category}" - object does not exist.')


def check_images(errors: FieldErrorCollector, images: list[bytes], *, required: bool) -> None:
    if required and not images:
        errors.add("images", "At least one image is required.")
    if len(images) > MAX_IMAGES:
        errors.add("images", f"At most {MAX_IMAGES} images.")


async def prepared_images(files: list[bytes], field: str, settings: Settings) -> list[CleanImage]:
    """Uploads checked and re-encoded before any transaction starts (so no lock is held while
    pixels are decoded); a bad one is a field error and nothing is written."""
    try:
        return await clean_images(files, settings.max_image_pixels, settings.max_image_decodes)
    except InvalidImage as exc:
        raise FieldErrors({field: [str(exc)]}) from None


async def insert_product(
    account: Account, values: dict[str, Any], images: list[CleanImage], media: MediaWriter
) -> int:
    """Inside the caller's transaction; image files are written through ``media``."""
    now = utc_now()
    rows = await Product.insert(
        Product(
            seller=account.id,
            category=values.get("category"),
            name=values["name"],
            description=values.get("description", ""),
            condition=values["condition"],
            created_at=now,
            updated_at=now,
        )
    ).returning(Product.id)
    product_id = int(rows[0]["id"])
    for index, image in enumerate(images):
        await ProductImage.insert(
            ProductImage(
                product=product_id,
                image=media.save_image(image, "products"),
                is_primary=index == 0,
                display_order=index,
            )
        )
    return product_id


PRODUCT_ORDERINGS = {"created_at": Product.created_at, "name": Product.name}

# One statement, so no bid can land between the check and the delete. The one place the catalogue
# names the auction table (by its SQL name; docs/architecture.md lists it).
_DELETE_UNBID_PRODUCT = """
    DELETE FROM product
    WHERE id = :product AND NOT EXISTS (
        SELECT 1 FROM auction WHERE auction.product = product.id AND auction.bid_count > 0
    )
    RETURNING id
"""


def product_filters(
    *, seller: str | None, category: str | None, condition: str | None, search: str | None
) -> list[Any]:
    conditions: list[Any] = []
    for name, value, column in (
        ("seller", seller, Product.seller),
        ("category", category, Product.category),
    ):
        if value:  # absent or empty: no filter
            conditions.append(column == parse_id_filter(name, value))
    if condition:
        if condition not in {c.value for c in Condition}:
            raise field_error(
                "condition",
                f'Select a valid choice. "{condition}" is not one of the available choices.',
            )
        conditions.append(Product.condition == condition)
    if (found := ProductSearch.parse(search)) is not None:
        conditions.append(found.matches(Product.id))
    return conditions


async def list_products(
    conditions: list[Any],
    ordering: str | None,
    offset: int,
    limit: int,
    ranked: ProductSearch | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """``ranked``: the search to order by, most relevant first (``search.ranked_search``),
    then by ``ordering`` or its default."""
    name = (ordering or "").strip()
    column = PRODUCT_ORDERINGS.get(name.lstrip("-"))
    ascending = column is not None and not name.startswith("-")
    column = column if column is not None else Product.created_at
    count_query, query = Product.count(), Product.select(*PRODUCT_COLUMNS)
    for condition in conditions:
        count_query, query = count_query.where(condition), query.where(condition)
    # Public and browsed, and never the ground of a decision: a replica's (see read_replicas).
    if ranked is not None:
        query = query.order_by(ranked.relevance(Product.id), ascending=False)
    rows = await stale_read(
        query.order_by(column, ascending=ascending)
        .order_by(Product.id, ascending=ascending)
        .offset(offset)
        .limit(limit)
    )
    return await stale_read(count_query), rows


async def _own_product(
    account: Account, product_id: int, forbidden: str | None = None
) -> dict[str, Any]:
    row = await Product.select(Product.id, Product.seller).where(Product.id == product_id).first()
    if row is None:
        raise NotFound()
    if row["seller"] != account.id:
        if forbidden:
            raise BusinessError(forbidden, 403)
        raise PermissionDenied()
    return row


async def create_product(
    account: Account, fields: dict[str, Any], images: list[bytes], settings: Settings
) -> int:
    errors = FieldErrorCollector()
    values = parse_product(errors, fields)
    check_images(errors, images, required=False)
    await check_category(errors, values)
    errors.check()
    cleaned = await prepared_images(images, "images", settings)
    media = MediaWriter(settings.media_root)
    try:
        async with write_transaction():
            return await insert_product(account, values, cleaned, media)
    except BaseException:
        media.discard()
        raise


async def update_product(
    account: Account, product_id: int, fields: dict[str, Any], listings: Listings
) -> None:
    await _own_product(account, product_id)
    if await listings.has_bids(product_id):
        raise BusinessError("Cannot edit a product whose auction has bids")
    errors = FieldErrorCollector()
    values = parse_product(errors, fields, partial=True)
    await check_category(errors, values)
    errors.check()
    if values:
        changes = {getattr(Product, name): value for name, value in values.items()}
        changes[Product.updated_at] = utc_now()
        await Product.update(changes).where(Product.id == product_id)


async def delete_product(account: Account, product_id: int, settings: Settings) -> None:
    """Delete a product (and its listing) while nobody has bid."""
    await _own_product(account, product_id)
    images = await ProductImage.select(ProductImage.image).where(ProductImage.product == product_id)
    if not await raw(Product, _DELETE_UNBID_PRODUCT, product=product_id):
        raise BusinessError("Cannot delete a product whose auction has bids")
    for image in images:
        delete_media(settings.media_root, image["image"])


async def add_image(
    account: Account, product_id: int, files: list[bytes], settings: Settings
) -> None:
    await _own_product(account, product_id, "You can only add images to your own products")
    if not files:
        raise BusinessError("No image file provided")
    [image] = await prepared_images(files[:1], "image", settings)
    media = MediaWriter(settings.media_root)
    try:
        async with write_transaction():
            existing = await ProductImage.count().where(ProductImage.product == product_id)
            if existing >= MAX_IMAGES:
                raise BusinessError(f"A product can have at most {MAX_IMAGES} images")
            await ProductImage.insert(
                ProductImage(
                    product=product_id,
                    image=media.save_image(image, "products"),
                    is_primary=existing == 0,
                    display_order=existing,
                )
            )
    except BaseException:
        media.discard()
        raise


async def delete_image(
    account: Account, product_id: int, image_id: int, settings: Settings
) -> None:
    await _own_product(account, product_id, "You can only delete images from your own products")
    async with write_transaction():
        images = (
            await ProductImage.select()
            .where(ProductImage.product == product_id)
            .order_by(ProductImage.display_order)
        )
        target = next((i for i in images if i["id"] == image_id), None)
        if target is None:
            raise BusinessError("Image not found", 404)
        if len(images) == 1:
            raise BusinessError("Product must have at least one image")
        await ProductImage.delete().where(ProductImage.id == image_id)
        if target["is_primary"]:
            successor = next(i for i in images if i["id"] != image_id)
            await ProductImage.update({ProductImage.is_primary: True}).where(
                ProductImage.id == successor["id"]
            )
    delete_media(settings.media_root, target["image"])
