"""``?search=`` over products and auctions: what matches, and how relevant it is.

Every product whose name, description or category name contains the text (case ignored, ``%``,
``_`` and ``\\`` literal) matches on both engines, as it always did. On PostgreSQL a product
also matches when all the words of the text are words of its name, description or category
name (full-text search, ``simple`` configuration) or when the text is close to a word of its
name or category name (``pg_trgm`` strict word similarity, at least ``TRIGRAM_THRESHOLD``): a
misspelling ("pashmena", "carpit") still finds it. Without an explicit ordering, results come
most relevant first (``relevance``), then newest first. docs/rest-api.md, "Search", says why.

The conditions are written as ``<product id> IN (SELECT … FROM product …)`` so that the same
text serves the product list (``"product"."id"``), the auction list (``"auction"."product"``)
and their counts, and so that PostgreSQL answers it from the indexes of the migration
``2026-12-05T15:00`` (GIN over the text-search document, trigram GIN over name and
description, the category index for a category match).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from litestar.params import Parameter
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from madeinpk.db.database import like_literal
from madeinpk.db.sql import dialect

# Longer text is cut to this many characters (after surrounding whitespace is dropped): a
# search box, not a document. Cutting can only widen what the text finds by substring or by
# words, never lose a product the whole text would have found that way.
MAX_SEARCH_LENGTH = 200
# Names are Pakistani craft words, transliterated ("Peshawari chappal", "Ajrak") or in Urdu
# script: 'simple' lowercases and splits them without an English stemmer or stop words that
# would mangle or drop them; plurals and spelling variants are the trigram match's job.
TEXT_SEARCH_CONFIG = "simple"

# ``?search=`` as the list operations declare it (the OpenAPI document says what it does).
SearchQuery = Annotated[
    str | None,
    Parameter(
        description=(
            "Products whose name, description or category name contain the text (case ignored;"
            " % and _ literal); on PostgreSQL also those with all its words, or a word spelt"
            " close to it in the name or category. Most relevant first unless `ordering` names"
            f" a field. At most {MAX_SEARCH_LENGTH} characters are read; empty: no search."
        ),
    ),
]

# What the query must know of the row: a product's own columns, and its category's name.
_DOCUMENT = (
    f"setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, sp.name), 'A') || "
    f"setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, sp.description), 'C')"
)
_CATEGORY_DOCUMENT = f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, sc.name)"
_CATEGORY_WEIGHTED = (
    f"setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, COALESCE(sc.name, '')), 'B')"
)
_QUERY = f"plainto_tsquery('{TEXT_SEARCH_CONFIG}'::regconfig, :text)"

# The category's own match (a few dozen rows: read whole), then the product's. The document is
# the expression of the index ``product_search_document``, written identically so it is used.
_POSTGRES_MATCH = f"""
    {{product}} IN (
        SELECT sp.id FROM product sp
        WHERE ({_DOCUMENT}) @@ {_QUERY}
           OR sp.name ILIKE :pattern ESCAPE '\\' OR sp.description ILIKE :pattern ESCAPE '\\'
           OR :text <<% sp.name
           OR sp.category = ANY(ARRAY(
               SELECT sc.id FROM category sc
               WHERE {_CATEGORY_DOCUMENT} @@ {_QUERY}
                  OR sc.name ILIKE :pattern ESCAPE '\\' OR :text <<% sc.name
           ))
    )
"""
# Full-text rank (name A, category B, description C) plus how close the text is to a word of
# the name, and half that for the category's: an exact word of the name comes first, a
# misspelt one next, a word only in the description last.
_POSTGRES_RELEVANCE = f"""
    (SELECT ts_rank({_DOCUMENT} || {_CATEGORY_WEIGHTED}, {_QUERY})
            + strict_word_similarity(:text, sp.name)
            + 0.5 * strict_word_similarity(:text, COALESCE(sc.name, ''))
     FROM product sp LEFT JOIN category sc ON sc.id = sp.category
     WHERE sp.id = {{product}})
"""
# SQLite: the substring match alone (LIKE ignores ASCII case there), ranked by where it is.
_SQLITE_MATCH = """
    {product} IN (
        SELECT sp.id FROM product sp LEFT JOIN category sc ON sc.id = sp.category
        WHERE sp.name LIKE :pattern ESCAPE '\\' OR sp.description LIKE :pattern ESCAPE '\\'
           OR sc.name LIKE :pattern ESCAPE '\\'
    )
"""
_SQLITE_RELEVANCE = """
    (SELECT CASE WHEN sp.name LIKE :pattern ESCAPE '\\' THEN 3
                 WHEN sc.name LIKE :pattern ESCAPE '\\' THEN 2
                 ELSE 1 END
     FROM product sp LEFT JOIN category sc ON sc.id = sp.category
     WHERE sp.id = {product})
"""


@dataclass(frozen=True, slots=True)
class ProductSearch:
    """A non-empty ``?search=`` text, cut to ``MAX_SEARCH_LENGTH``."""

    text: str

    @classmethod
    def parse(cls, search: str | None) -> ProductSearch | None:
        """None for an absent, empty or blank text: no filter."""
        text = (search or "").strip()[:MAX_SEARCH_LENGTH].strip()
        return cls(text) if text else None

    def matches(self, product: Any) -> WhereRaw:
        """The condition on ``product`` (a column holding a product id: ``Product.id``,
        ``Auction.product``) that its product matches."""
        sql = _POSTGRES_MATCH if dialect().postgres else _SQLITE_MATCH
        template, args = self._template(sql, product)
        return WhereRaw(template, *args)

    def relevance(self, product: Any) -> QueryString:
        """How well ``product``'s product matches, larger is better: to order by, descending."""
        sql = _POSTGRES_RELEVANCE if dialect().postgres else _SQLITE_RELEVANCE
        template, args = self._template(sql, product)
        return QueryString(template, *args)

    def _template(self, sql: str, product: Any) -> tuple[str, list[Any]]:
        meta = product._meta
        column = f'"{meta.table._meta.tablename}"."{meta.db_column_name}"'
        params = {"text": self.text, "pattern": f"%{like_literal(self.text)}%"}
        return dialect().template(sql.replace("{product}", column), params)


def ranked_search(
    search: str | None, ordering: str | None, orderings: Collection[str]
) -> ProductSearch | None:
    """The search to order by relevance: there is one, and ``ordering`` names none of
    ``orderings`` (an explicit ordering wins; an unknown one is ignored, as it always was)."""
    if (ordering or "").strip().lstrip("-") in orderings:
        return None
    return ProductSearch.parse(search)
