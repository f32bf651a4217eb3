"""Catalogue queries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from madeinpk.catalog.schemas import Category as CategoryBody
from madeinpk.catalog.tables import Category


async def _category_tree() -> tuple[dict[int, dict[str, Any]], dict[int | None, list[int]]]:
    """The whole tree in one query: categories are a few dozen rows, read far more than written."""
    rows = await Category.select().order_by(Category.id)
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
