"""Session limits on every signed-in request (kefu.accounts.sessions): past the absolute lifetime the person is
signed out (and audited); otherwise, at most once a minute, the session's expiry moves on (the idle limit) and its
index row records the activity. Requests a page makes by itself (KEFU_SESSION_BACKGROUND_PATHS) do not count as
activity. Sync-only, placed beside the other sync-only middleware so the chain switches threads once."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from kefu.accounts import sessions
from kefu.accounts.signin import signed_out


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.background = tuple(settings.KEFU_SESSION_BACKGROUND_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if sessions.session_signed_in(request):
            if sessions.session_expired(request):
                user = request.user
                sessions.session_forget(request)
                signed_out(request, user, reason="max_age")  # type: ignore[arg-type]
                logout(request)
                messages.info(request, _("登录已超过 %(h)s 小时，为了安全请重新登录")
                              % {"h": f"{settings.KEFU_SESSION_MAX_HOURS:g}"})
            elif not request.path.startswith(self.background):
                sessions.session_touch(request)
        response = self.get_response(request)
        if sessions.session_signed_in(request) and request.user.is_authenticated:
            sessions.session_index(request)  # after a sign-in (a new key), or a key cycled by a password change
        return response
