"""Page-number pagination (madeinpk.http.pagination), as DRF's PageNumberPagination."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from litestar import Request

from madeinpk.http.errors import ApiError
from madeinpk.http.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Page,
    PageRequest,
    page_size_from_query,
    provide_page_request,
)


def _request(query: str) -> Request[Any, Any, Any]:
    return Request(
        scope={  # type: ignore[arg-type]
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("testserver", 80),
            "root_path": "",
            "path": "/api/products/",
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver")],
        }
    )


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        (None, DEFAULT_PAGE_SIZE),
        ("5", 5),
        ("0", DEFAULT_PAGE_SIZE),
        ("-5", DEFAULT_PAGE_SIZE),
        ("x", DEFAULT_PAGE_SIZE),
        ("1.5", DEFAULT_PAGE_SIZE),
        ("9" * 5000, DEFAULT_PAGE_SIZE),  # longer than int()'s limit
        (str(MAX_PAGE_SIZE + 1), MAX_PAGE_SIZE),
        (" 7 ", 7),  # int() reads it
    ],
)
def test_page_size_falls_back_or_clamps(raw: str | None, size: int) -> None:
    assert page_size_from_query(raw) == size


def test_page_number() -> None:
    assert PageRequest.from_query(None, None) == PageRequest(number=1, size=DEFAULT_PAGE_SIZE)
    assert PageRequest.from_query("", "10") == PageRequest(number=1, size=10)
    page = PageRequest.from_query("3", "10")
    assert (page.number, page.offset) == (3, 20)
    assert provide_page_request("2", "5") == PageRequest(number=2, size=5)


@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.0", "٢"])
def test_a_bad_page_number_is_not_found(raw: str) -> None:
    with pytest.raises(ApiError) as error:
        PageRequest.from_query(raw, None)
    assert (error.value.status_code, error.value.body) == (404, {"detail": "Invalid page."})


def test_links_keep_the_query_and_drop_page_one() -> None:
    page = PageRequest.from_query("2", "2")
    body = page.build(_request("search=a&page=2&page_size=2"), 5, ["c", "d"])
    assert body.count == 5 and body.results == ["c", "d"]
    assert body.next is not None and body.previous is not None
    next_link, previous_link = urlsplit(body.next), urlsplit(body.previous)
    assert next_link.netloc == "testserver" and next_link.path == "/api/products/"
    assert sorted(parse_qsl(next_link.query)) == [
        ("page", "3"),
        ("page_size", "2"),
        ("search", "a"),
    ]
    assert sorted(parse_qsl(previous_link.query)) == [("page_size", "2"), ("search", "a")]


def test_the_last_page_has_no_next_and_the_first_no_previous() -> None:
    first = PageRequest.from_query(None, "10").build(_request(""), 3, [1, 2, 3])
    assert first.next is None and first.previous is None


def test_a_page_past_the_end_is_not_found() -> None:
    with pytest.raises(ApiError) as error:
        PageRequest.from_query("3", "10").build(_request("page=3"), 20, [])
    assert error.value.status_code == 404
    # The first page of nothing is an empty page, not an error.
    empty: Page[int] = PageRequest.from_query(None, None).build(_request(""), 0, [])
    assert empty.count == 0 and empty.results == []


def test_links_keep_the_path_as_the_client_sent_it() -> None:
    """Litestar routes ``/api/products/`` as ``/api/products``; the links keep the slash."""
    request = _request("page_size=2")
    request.scope["path"] = "/api/products"
    request.scope["raw_path"] = b"/api/products/"  # type: ignore[typeddict-unknown-key]
    body = PageRequest.from_query(None, "2").build(request, 5, ["a", "b"])
    assert body.next is not None
    assert urlsplit(body.next).path == "/api/products/"
