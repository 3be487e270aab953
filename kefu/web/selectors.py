"""Reads for the workspace pages that are not another app's: saved views. (Work-order lists and counters are
kefu.tickets.selectors.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from kefu.tickets.models import SavedView

SAVED_VIEWS_TTL = 3600


@dataclass(frozen=True)
class SavedViewRow:
    pk: int
    name: str
    query: str


def _key(user_id: int) -> str:
    return f"kefu:saved-views:{user_id}"


def saved_views_for(*, user: Any) -> list[SavedViewRow]:
    """A person's saved views, in the side bar of every page: from the cache, forgotten when they change."""
    rows = cache.get(_key(user.pk))
    if rows is None:
        rows = [SavedViewRow(pk, name, query) for pk, name, query in
                SavedView.objects.filter(owner=user).order_by("name").values_list("pk", "name", "query")[:50]]
        cache.set(_key(user.pk), rows, SAVED_VIEWS_TTL)
    return rows  # type: ignore[no-any-return]


def forget_saved_views(user_id: int) -> None:
    key = _key(user_id)
    transaction.on_commit(lambda: cache.delete(key))
