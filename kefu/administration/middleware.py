"""While a person signs in with a temporary password, every page sends them to change it first (the API answers
403 `password_change_required`); signing out and the password page itself stay open."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

OPEN_PREFIXES = ("/static/", "/i18n/", "/language/", "/logout/", "/login/", "/account/", "/healthz", "/readyz")


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and getattr(user, "must_change_password", False)
                and not request.path.startswith(OPEN_PREFIXES)):
            if request.path.startswith("/api/"):
                from django.utils.translation import gettext as _

                from kefu.apiutils.errors import error_response

                return error_response(403, "password_change_required",
                                      _("请先修改临时密码（登录网页后按提示修改），再使用接口"))
            return redirect(f"{reverse('administration:account_password')}")
        return self.get_response(request)
