"""Keyset (cursor) pages for the big lists: newest first by (created_at, id), constant cost at any depth.

The cursor is opaque to its users: URL-safe base64 of the JSON `["<created_at ISO 8601>", <id>]` of the row
it points at. The API has documented that clients pass `next` back as `?cursor=`, so old cursors keep working
as long as this format stays. The web list uses the same cursors, forward (`after`) and back (`before`).
Counting is capped: a list over a million rows says "more than N" rather than run a COUNT(*) over all.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.dates import DateInputError, check_moment
from kefu.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
COUNT_CAP = 10_000


@dataclass
class KeysetPage:
    """One page. `next_cursor` / `prev_cursor` are "" when there is no such page; `total` is exact unless
    `capped` (then "more than `total`"); None when no count was asked."""

    rows: list[Any]
    limit: int
    next_cursor: str = ""
    prev_cursor: str = ""
    total: int | None = None
    capped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(created_at: datetime, pk: int) -> str:
    plain = [created_at.isoformat(), pk]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, parameter: str = "cursor") -> tuple[datetime, int]:
    """The (created_at, id) a cursor points at; ValidationFailed naming `parameter` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2 or not isinstance(values[1], int):
            raise ValueError
        at = datetime.fromisoformat(values[0])
        if timezone.is_naive(at):
            raise ValueError
        check_moment(at, field=parameter)  # a forged cursor of year 1 or 9999 would overflow in the query
        return at, int(values[1])
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error, json.JSONDecodeError, OverflowError,
            DateInputError):
        raise ValidationFailed(
            _("%(p)s 参数无效：请使用上一页返回的值") % {"p": parameter},
            code="invalid",
            details={"fields": [{"field": parameter, "location": "query", "message": "invalid cursor"}]},
        ) from None


def capped_count(queryset: QuerySet[Any], cap: int) -> tuple[int, bool]:
    """(count, capped): at most `cap` rows counted, in a bounded subquery."""
    counted = queryset.order_by().values("pk")[: cap + 1].count()
    return min(counted, cap), counted > cap


def keyset_page(
    queryset: QuerySet[Any],
    *,
    limit: int = DEFAULT_LIMIT,
    after: str = "",
    before: str = "",
    count_cap: int | None = None,
    parameter: str = "cursor",
) -> KeysetPage:
    """One page of `queryset`, newest first by (created_at, id).

    `after`: the rows older than that cursor (the next page); `before`: the rows newer than it (the previous
    page, still shown newest first). A cursor that is not ours raises ValidationFailed naming `parameter`.
    `count_cap`: also count the matches, up to that many.
    """
    newest_first = queryset.order_by("-created_at", "-id")
    going_back = False
    if after:
        at, pk = decode_cursor(after, parameter=parameter)
        page_qs = newest_first.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    elif before:
        at, pk = decode_cursor(before, parameter=parameter)
        going_back = True
        page_qs = queryset.order_by("created_at", "id").filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=pk))
    else:
        page_qs = newest_first
    rows = list(page_qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if going_back:
        rows.reverse()
    page = KeysetPage(rows=rows, limit=limit)
    if rows:
        first, last = encode_cursor(rows[0].created_at, rows[0].pk), encode_cursor(rows[-1].created_at, rows[-1].pk)
        if going_back:
            page.next_cursor = last
            page.prev_cursor = first if more else ""
        else:
            page.next_cursor = last if more else ""
            page.prev_cursor = first if after else ""
    if count_cap is not None:
        page.total, page.capped = capped_count(queryset, count_cap)
    return page
