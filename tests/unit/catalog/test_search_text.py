"""What ``?search=`` text becomes before any SQL (catalog.search): blank is no search, long text
is cut, an explicit ordering turns ranking off. No server."""

from __future__ import annotations

import pytest

from madeinpk.catalog.search import MAX_SEARCH_LENGTH, ProductSearch, ranked_search

ORDERINGS = {"created_at": None, "name": None}


@pytest.mark.parametrize("text", [None, "", " ", "\t\n "])
def test_blank_is_no_search(text: str | None) -> None:
    assert ProductSearch.parse(text) is None


def test_text_is_stripped_and_cut() -> None:
    assert ProductSearch.parse("  Pashmina shawl ") == ProductSearch("Pashmina shawl")
    long = ProductSearch.parse(" " + "x" * (MAX_SEARCH_LENGTH + 50))
    assert long == ProductSearch("x" * MAX_SEARCH_LENGTH)
    # Cut first, then stripped: no trailing blank is searched for.
    assert ProductSearch.parse("a" * (MAX_SEARCH_LENGTH - 1) + " b") == ProductSearch(
        "a" * (MAX_SEARCH_LENGTH - 1)
    )


@pytest.mark.parametrize(
    ("ordering", "ranked"),
    [(None, True), ("", True), ("bogus", True), ("name", False), ("-created_at", False)],
)
def test_an_explicit_ordering_wins(ordering: str | None, ranked: bool) -> None:
    assert (ranked_search("shawl", ordering, ORDERINGS) is not None) == ranked
    assert ranked_search(" ", ordering, ORDERINGS) is None
