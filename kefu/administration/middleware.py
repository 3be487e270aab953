"""While a person signs in with a temporary password, every page sends them to change it first (the API answers
403 `password_change_required`); signing out and the password page itself stay open."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

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
            target = reverse("administration:account_password")
            if request.headers.get("HX-Request"):
                # a part of a page asking (the header's state switch, the offer holder): never the password page
                # swapped into it; the whole page goes there, unless it is already there
                response = HttpResponse(status=204)
                if urlsplit(request.headers.get("HX-Current-URL", "")).path != target:
                    response["HX-Redirect"] = target
                return response
            return redirect(target)
        return self.get_response(request)
