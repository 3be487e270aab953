"""Production settings: base plus HTTPS-only cookies and headers. Requires KEFU_SECRET_KEY."""

from __future__ import annotations

import os

from kefu.config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("KEFU_SECRET_KEY", SECRET_KEY)  # noqa: F405
SECURE_SSL_REDIRECT = os.environ.get("KEFU_SECURE_SSL_REDIRECT", "true").lower() in {"1", "true", "yes"}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True  # django_language: HTTPS only too (kefu.core.checks warns without it)
SECURE_HSTS_SECONDS = int(os.environ.get("KEFU_HSTS_SECONDS", 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
