"""``/api/categories/…``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery

from madeinpk.catalog import service
from madeinpk.catalog.schemas import Category
from madeinpk.http_errors import NotFound
from madeinpk.pagination import Page, PageRequest


class CategoryController(Controller):
    path = "/api/categories"
    tags = ["catalogue"]

    @get("/", operation_id="ListCategories")
    async def list_categories(
        self,
        request: Request[Any, Any, Any],
        page: FromQuery[str | None] = None,
        page_size: FromQuery[str | None] = None,
    ) -> Page[Category]:
        paging = PageRequest.from_query(page, page_size)
        count, results = await service.root_categories(paging.offset, paging.size)
        return paging.build(request, count, results)

    @get("/{category_id:int}/", operation_id="GetCategory")
    async def get_category(self, category_id: FromPath[int]) -> Category:
        found = await service.category(category_id)
        if found is None:
            raise NotFound()
        return found
