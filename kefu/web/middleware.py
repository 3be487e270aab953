"""Interface language: the user's explicit choice (cookie, then their account), else zh-hans.

Unlike Django's LocaleMiddleware, the browser's Accept-Language is ignored: Kefu is Chinese by default and
English only when someone asks for it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class UserLanguageMiddleware(LocaleMiddleware):
    """Placed after AuthenticationMiddleware, so a signed-in user's stored language applies on any browser."""

    def process_request(self, request: HttpRequest) -> None:
        supported = dict(settings.LANGUAGES)
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if language not in supported and request.headers.get("Authorization", "").startswith("Bearer "):
            # An API call with a token: the session is not consulted (the token's user is only known after
            # authentication, which applies that user's language: kefu.apiutils.auth).
            language = settings.LANGUAGE_CODE
        elif language not in supported:
            user = getattr(request, "user", None)
            stored = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
            language = stored if stored in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
