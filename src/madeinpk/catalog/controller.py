"""``/api/categories/…``."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from madeinpk.catalog import service
from madeinpk.catalog.products import Listings, product_bodies, product_body
from madeinpk.catalog.schemas import Category, Product
from madeinpk.catalog.search import SearchQuery, ranked_search
from madeinpk.http.auth import Account, requires_account, requires_seller
from madeinpk.http.bodies import (
    UPLOAD_LIMIT,
    form_only,
    json_only,
    json_or_form,
    read_body,
    read_json,
)
from madeinpk.http.errors import NotFound
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.requests import AnyRequest, base_url
from madeinpk.http.responses import Message
from madeinpk.settings import Settings


class CategoryController(Controller):
    path = "/api/categories"
    tags = ["catalogue"]

    @get("/", operation_id="ListCategories")
    async def list_categories(
        self,
        request: AnyRequest,
        paging: NamedDependency[PageRequest],
    ) -> Page[Category]:
        count, results = await service.root_categories(paging.offset, paging.size)
        return paging.build(request, count, results)

    @get("/{category_id:int}/", operation_id="GetCategory")
    async def get_category(self, category_id: FromPath[int]) -> Category:
        found = await service.category(category_id)
        if found is None:
            raise NotFound()
        return found


async def _product(request: AnyRequest, product_id: int, listings: Listings) -> Product:
    body = await product_body(product_id, base_url(request), listings)
    if body is None:
        raise NotFound()
    return body


async def _update_product(
    request: AnyRequest, account: Account, product_id: int, listings: Listings
) -> Product:
    """PUT and PATCH alike update what is sent (a ``ProductUpdate``); owner only, while nobody
    has bid."""
    fields = await read_json(request)
    await service.update_product(account, product_id, fields, listings)
    return await _product(request, product_id, listings)


class ProductController(Controller):
    path = "/api/products"
    tags = ["catalogue"]

    @get("/", operation_id="ListProducts")
    async def list_products(
        self,
        request: AnyRequest,
        paging: NamedDependency[PageRequest],
        listings: NamedDependency[Listings],
        seller: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        condition: FromQuery[str | None] = None,
        search: SearchQuery = None,
        ordering: FromQuery[str | None] = None,
    ) -> Page[Product]:
        conditions = service.product_filters(
            seller=seller, category=category, condition=condition, search=search
        )
        ranked = ranked_search(search, ordering, service.PRODUCT_ORDERINGS)
        count, rows = await service.list_products(
            conditions, ordering, paging.offset, paging.size, ranked
        )
        return paging.build(request, count, await product_bodies(rows, base_url(request), listings))

    @get("/{product_id:int}/", operation_id="GetProduct")
    async def get_product(
        self, request: AnyRequest, product_id: FromPath[int], listings: NamedDependency[Listings]
    ) -> Product:
        return await _product(request, product_id, listings)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        guards=[requires_seller],
        operation_id="CreateProduct",
        operation_class=json_or_form("ProductCreate", "ProductCreateForm"),
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def create_product(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        settings: NamedDependency[Settings],
        listings: NamedDependency[Listings],
    ) -> Product:
        body = await read_body(request)
        product_id = await service.create_product(
            account, body.fields, body.files.get("images", []), settings
        )
        return await _product(request, product_id, listings)

    @patch(
        "/{product_id:int}/",
        guards=[requires_account],
        operation_id="UpdateProduct",
        operation_class=json_only("ProductUpdate"),
    )
    async def update_product(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        product_id: FromPath[int],
        listings: NamedDependency[Listings],
    ) -> Product:
        return await _update_product(request, account, product_id, listings)

    @put(
        "/{product_id:int}/",
        guards=[requires_account],
        operation_id="ReplaceProduct",
        operation_class=json_only("ProductUpdate"),
    )
    async def replace_product(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        product_id: FromPath[int],
        listings: NamedDependency[Listings],
    ) -> Product:
        return await _update_product(request, account, product_id, listings)

    @delete(
        "/{product_id:int}/",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_account],
        operation_id="DeleteProduct",
    )
    async def delete_product(
        self,
        account: NamedDependency[Account],
        product_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> None:
        """Also how the React client deletes an auction: the product goes, and its listing. Its
        scheduled ending, if any, finds no auction when it fires and does nothing."""
        await service.delete_product(account, product_id, settings)

    @post(
        "/{product_id:int}/add_image/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="AddProductImage",
        request_max_body_size=UPLOAD_LIMIT,
        operation_class=form_only("ImageUpload"),
    )
    async def add_image(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        product_id: FromPath[int],
        settings: NamedDependency[Settings],
        listings: NamedDependency[Listings],
    ) -> Product:
        """Multipart with one file part ``image``."""
        body = await read_body(request)
        files = body.files.get("image", [])[:1]
        await service.add_image(account, product_id, files, settings)
        return await _product(request, product_id, listings)

    @delete(
        "/{product_id:int}/delete_image/{image_id:int}/",
        status_code=HTTP_200_OK,
        guards=[requires_account],
        operation_id="DeleteProductImage",
    )
    async def delete_image(
        self,
        account: NamedDependency[Account],
        product_id: FromPath[int],
        image_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Message:
        await service.delete_image(account, product_id, image_id, settings)
        return Message(message="Image deleted successfully")
