"""DRF-style page-number pagination: ``{count, next, previous, results}`` with absolute links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request
from litestar.params import FromQuery

from madeinpk.db.database import MAX_ID
from madeinpk.http.errors import ApiError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size_from_query(raw: str | None) -> int:
    """DRF's ``PageNumberPagination.get_page_size`` with ``max_page_size``, exactly: the value is
    read with ``int()``; anything that is not a whole number, or is zero or negative, falls back
    to the default (never an error), and a larger size than the maximum is clamped to it."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:  # not a number, or longer than Python's int-from-string limit
        return DEFAULT_PAGE_SIZE
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


class Page(msgspec.Struct, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


class InvalidPage(ApiError):
    def __init__(self) -> None:
        super().__init__({"detail": "Invalid page."}, 404)


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @classmethod
    def from_query(cls, page: str | None, page_size: str | None) -> PageRequest:
        """As DRF: a bad page number is a 404, a bad page size falls back to the default."""
        number = 1
        if page:  # absent or empty: the first page
            # No table holds more rows than ids (``MAX_ID``): a page past that is past the end
            # of every list, and its offset would overflow the database's integers.
            if not (page.isascii() and page.isdigit() and len(page.lstrip("0")) <= 10):
                raise InvalidPage()
            number = int(page)
            if not 1 <= number <= MAX_ID:
                raise InvalidPage()
        return cls(number=number, size=page_size_from_query(page_size))

    def build(self, request: Request[Any, Any, Any], count: int, results: list[T]) -> Page[T]:
        if self.number > 1 and self.offset >= count:
            raise InvalidPage()
        has_next = self.offset + len(results) < count
        return Page(
            count=count,
            next=_page_url(request, self.number + 1) if has_next else None,
            previous=_page_url(request, self.number - 1) if self.number > 1 else None,
            results=results,
        )


def _page_url(request: Request[Any, Any, Any], number: int) -> str:
    url = request.url
    params = [(k, v) for k, v in url.query_params.multi_items() if k != "page"]
    if number > 1:
        params.append(("page", str(number)))
    # An empty string means "no query"; Empty (the default) would keep the old one. Litestar
    # routes "/api/x/" as "/api/x" and keeps the path without its slash: the link keeps the path
    # as the client sent it (DRF's links end in "/").
    raw_path = request.scope.get("raw_path")
    if raw_path:
        return str(url.with_replacements(path=raw_path.decode("latin-1"), query=urlencode(params)))
    return str(url.with_replacements(query=urlencode(params)))


def provide_page_request(
    page: FromQuery[str | None] = None, page_size: FromQuery[str | None] = None
) -> PageRequest:
    """The ``paging`` dependency: ``?page=`` and ``?page_size=`` read as DRF reads them."""
    return PageRequest.from_query(page, page_size)
