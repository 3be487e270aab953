"""Kefu's own deployment checks (`kefu check --deploy`), beside Django's: what Django does not check itself."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def language_cookie_secure(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """The language cookie goes over HTTPS only when the session cookie does (Django checks only the latter)."""
    if settings.SESSION_COOKIE_SECURE and not settings.LANGUAGE_COOKIE_SECURE:
        return [Warning("LANGUAGE_COOKIE_SECURE is not True while SESSION_COOKIE_SECURE is: the django_language "
                        "cookie would also be sent over plain HTTP.", hint="Set LANGUAGE_COOKIE_SECURE = True.",
                        id="kefu.W001")]
    return []
