"""Reads for the workspace pages that are not another app's: saved views. (Work-order lists and counters are
kefu.tickets.selectors.)"""

from __future__ import annotations

from typing import Any

from kefu.tickets.models import SavedView


def saved_views_for(*, user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(owner=user).order_by("name")[:50])
