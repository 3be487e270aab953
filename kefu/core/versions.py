"""Version counters for cached reads that several apps change: a change bumps the counter after commit, and
readers key their cache on it (e.g. the people offered in the work-order page's "assign" list)."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

DIRECTORY = "directory"  # people, teams, departments
CATALOG = "catalog"  # the work-order types' defaults


def current(name: str) -> int:
    return int(cache.get_or_set(f"kefu:version:{name}", 1, None))


def bump(name: str) -> None:
    try:
        cache.incr(f"kefu:version:{name}")
    except ValueError:
        cache.set(f"kefu:version:{name}", 2, None)


def bump_after_commit(name: str) -> None:
    transaction.on_commit(lambda: bump(name), robust=True)
