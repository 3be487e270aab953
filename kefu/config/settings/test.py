"""Test settings: base with fast hashing, tasks run inline, and the database from KEFU_DATABASE_URL if set."""

from __future__ import annotations

import os
import tempfile

from kefu.config.settings.base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}  # noqa: F405
KEFU_OUTBOX_INLINE = True  # the relay runs right after each commit, as Huey's immediate mode runs tasks
MEDIA_ROOT = tempfile.mkdtemp(prefix="kefu-test-media-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Parallel test workers share one Redis when KEFU_REDIS_URL is set. A key prefix is not enough: each test
# starts by clearing the cache, which on Redis empties the whole database, under the other worker's feet (and
# under the browser tests' server). So each worker gets a database of its own: gw0 → 1, gw1 → 2, …
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
CACHES["default"]["KEY_PREFIX"] = f"kefu-test-{_WORKER or 'main'}"  # noqa: F405
KEFU_LIVE_CHANNEL = f"kefu:live:test-{_WORKER or 'main'}-{os.getpid()}"  # pub/sub ignores the database number
if REDIS_URL and _WORKER.removeprefix("gw").isdigit():  # noqa: F405
    from urllib.parse import urlsplit, urlunsplit

    _DB = 1 + int(_WORKER.removeprefix("gw")) % 15  # Redis ships 16 databases; 0 is left to the servers
    REDIS_URL = urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{_DB}"))  # noqa: F405
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]  # noqa: F405
    HUEY["url"] = REDIS_URL
# WhiteNoise serves from the finders in tests; an existing (empty) STATIC_ROOT keeps it from warning per request.
STATIC_ROOT = tempfile.mkdtemp(prefix="kefu-test-static-")
