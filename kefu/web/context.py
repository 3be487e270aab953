"""Template context of every page: the navigation the user's role allows, live SLA counters, saved views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def navigation(request: HttpRequest) -> dict[str, Any]:
    from kefu.core.policy import has_right, rights

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from kefu.web.selectors import saved_views_for, sla_counters_cached

    # Lazy: a page that never shows them (a partial) costs no query.
    return {
        "can": {name.replace(".", "_"): has_right(user, name) for name in rights()},
        "sla_counters": SimpleLazyObject(lambda: sla_counters_cached(user=user)),
        "saved_views": SimpleLazyObject(lambda: saved_views_for(user=user)),
        "notification_unread": SimpleLazyObject(lambda: _unread(user)),
    }


def _unread(user: Any) -> int:
    from kefu.notifications.selectors import unread_count

    return unread_count(user=user)
