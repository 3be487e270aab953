"""API pagination: keyset cursors for the big lists (kefu.core.pagination), page numbers for the small ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from kefu.core import pagination as _core

DEFAULT_LIMIT = _core.DEFAULT_LIMIT
MAX_LIMIT = _core.MAX_LIMIT
COUNT_CAP = _core.COUNT_CAP  # `?count=true` counts at most this many rows, in a bounded subquery


def cursor_page(
    queryset: QuerySet[Any],
    *,
    limit: int,
    cursor: str | None,
    count: bool,
    serialize: Callable[[list[Any]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The API's shape of a keyset page (kefu.core.pagination): `items`, `next` (pass it back as ?cursor=, null
    at the end), `limit`, and with `count` the capped `count` and `count_capped`."""
    page = _core.keyset_page(queryset, limit=limit, after=cursor or "", count_cap=COUNT_CAP if count else None)
    out: dict[str, Any] = {"items": serialize(page.rows), "next": page.next_cursor or None, "limit": limit}
    if count:
        out["count"] = page.total
        out["count_capped"] = page.capped
    return out


def number_page(
    queryset: QuerySet[Any],
    *,
    page: int,
    page_size: int,
    serialize: Callable[[list[Any]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """`?page=&page_size=` for the small lists (customers, users, teams): with an exact count."""
    total = queryset.count()
    start = (page - 1) * page_size
    rows = list(queryset[start : start + page_size])
    more = start + len(rows) < total
    return {
        "items": serialize(rows),
        "next": str(page + 1) if more else None,
        "page": page,
        "page_size": page_size,
        "count": total,
    }
