"""While a session is half signed in (password given, second step not yet), every page sends the person to the
second step, or to enrolment when their role requires a second factor they have not set up; the API answers 403
`two_factor_required` (a personal token still works: it is its own credential). django-admin is a page like any
other. Signing out, the sign-in pages and the language switch stay open."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from kefu.identity.second_factor import Step, request_step

OPEN_PREFIXES = ("/static/", "/i18n/", "/language/", "/logout/", "/login/", "/healthz", "/sso/",
                 "/account/two-factor/verify/", "/account/two-factor/setup/")


class SecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path.startswith(OPEN_PREFIXES):
            return self.get_response(request)
        step = request_step(request)
        if step == Step.DONE:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization", "").startswith("Bearer "):
                request.user = AnonymousUser()  # the token decides; the half-signed-in session does not count
                return self.get_response(request)
            from django.utils.translation import gettext as _

            from kefu.apiutils.errors import error_response

            return error_response(403, "two_factor_required",
                                  _("请先在网页上完成两步验证，再使用接口（或使用个人 API 令牌）"))
        target = reverse("identity:verify" if step == Step.VERIFY else "identity:setup")
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)
