"""Sign in, sign out and the language switch (remembered on the user)."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from kefu.accounts.sessions import session_forget
from kefu.accounts.signin import signed_out, signin_completed
from kefu.core.errors import ApplicationError
from kefu.core.policy import AUTHENTICATED, PUBLIC, requires
from kefu.identity.views import password_step_done
from kefu.web.forms import LoginForm
from kefu.web.services import user_set_language

LANGUAGE_CHOSEN_KEY = "kefu_language_chosen"


def _remember_language(response: HttpResponseBase, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        httponly=False, secure=settings.LANGUAGE_COOKIE_SECURE,
    )


@requires(PUBLIC)
class LoginPage(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_invalid(form)
        if form.locked is not None:  # too many failures: say until when (kefu.accounts.signin)
            response.status_code = 429
            response["Retry-After"] = str(form.locked.retry_after)
        return response

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        user = form.get_user()
        signin_completed(self.request, user, via="web")
        chosen = self.request.session.pop(LANGUAGE_CHOSEN_KEY, "")
        if chosen in dict(settings.LANGUAGES) and chosen != user.language:
            # picked on the sign-in page: an explicit choice, remembered on the user from now on
            user_set_language(actor=user, language=chosen)
        language = user.language or settings.LANGUAGE_CODE
        translation.activate(language)
        _remember_language(response, language)
        return password_step_done(self.request, response)  # the second step, when one is needed


@requires(AUTHENTICATED)
class LogoutPage(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        if request.user.is_authenticated:
            session_forget(request)
            signed_out(request, request.user)
        return super().post(request, *args, **kwargs)


@requires(PUBLIC)
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated:
        with contextlib.suppress(ApplicationError):  # Django's view already ignored an unknown language
            user_set_language(actor=request.user, language=language)
    elif language in dict(settings.LANGUAGES):
        request.session[LANGUAGE_CHOSEN_KEY] = language  # applied to the user who signs in next
    return response
