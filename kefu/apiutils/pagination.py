"""Pagination: keyset cursors for the big lists (constant cost at any depth), page numbers for small ones."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from kefu.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
COUNT_CAP = 10_000  # `?count=true` counts at most this many rows, in a bounded subquery


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return [datetime.fromisoformat(values[0]), int(values[1])]
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed(
            _("cursor 参数无效：请使用上一页返回的 next 值"),
            code="invalid",
            details={"fields": [{"field": "cursor", "location": "query", "message": "invalid cursor"}]},
        ) from None


def keyset_page(
    queryset: QuerySet[Any],
    *,
    limit: int,
    cursor: str | None,
    count: bool,
    serialize: Callable[[list[Any]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Newest first by (created_at, id). `next` is the cursor of the following page, or null at the end.

    No COUNT(*) unless asked (`count=True`), and then capped at COUNT_CAP (`count_capped` says so).
    """
    ordered = queryset.order_by("-created_at", "-id")
    if cursor:
        at, pk = decode_cursor(cursor)
        ordered = ordered.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    rows = list(ordered[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    page: dict[str, Any] = {
        "items": serialize(rows),
        "next": encode_cursor([rows[-1].created_at, rows[-1].pk]) if more and rows else None,
        "limit": limit,
    }
    if count:
        counted = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
        page["count"] = min(counted, COUNT_CAP)
        page["count_capped"] = counted > COUNT_CAP
    return page


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
