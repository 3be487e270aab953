"""Template context of every page: the navigation the user's rights allow, the header's counters, saved views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def navigation(request: HttpRequest) -> dict[str, Any]:
    from kefu.core.policy import role_of

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from kefu.tickets.selectors import counters_for, default_filter_for, list_url
    from kefu.web.selectors import saved_views_for

    # Lazy: a page that never shows them (a partial) costs no query.
    return {
        "can": _can(role_of(user)),
        "header_counters": SimpleLazyObject(lambda: counters_for(user)),
        "saved_views": SimpleLazyObject(lambda: saved_views_for(user=user)),
        "notification_unread": SimpleLazyObject(lambda: _unread(user)),
        "ticket_list_home": SimpleLazyObject(lambda: list_url(default_filter_for(user))),
    }


_CAN: dict[str | None, dict[str, bool]] = {}


def _can(role: str | None) -> dict[str, bool]:
    """The template's `can.ticket_view`…: the role's rights with dots made underscores, once per role."""
    from kefu.core.policy import rights_of_role

    held = rights_of_role(role)
    found = _CAN.get(role)
    if found is None or len(found) != len(held):
        found = _CAN[role] = {name.replace(".", "_"): value for name, value in held.items()}
    return found


def _unread(user: Any) -> int:
    from kefu.notifications.selectors import unread_count

    return unread_count(user=user)
