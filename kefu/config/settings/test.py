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
# Parallel test workers share one Redis database when KEFU_REDIS_URL is set (the one it names: people running the
# suite side by side give each run its own). Each worker keeps to its own keys: a key prefix for the cache, whose
# clear() deletes only that prefix (Django's would empty the whole database under the other worker's feet), one for
# the channel layer's groups and one for the rate-limit counters.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_TAG = f"kefu-test-{_WORKER or 'main'}-{os.getpid()}"  # unique on this machine while the run lasts
CACHES["default"]["KEY_PREFIX"] = _TAG  # noqa: F405
KEFU_LIVE_CHANNEL = f"kefu:live:test-{_WORKER or 'main'}-{os.getpid()}"  # pub/sub ignores the database number
KEFU_RATE_LIMIT_PREFIX = f"{_TAG}:rl:"
if REDIS_URL:  # noqa: F405
    CACHES["default"]["BACKEND"] = "kefu.config.settings.test_cache.PrefixRedisCache"  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"asgi-{_TAG}"  # noqa: F405
# WhiteNoise serves from the finders in tests; an existing (empty) STATIC_ROOT keeps it from warning per request.
STATIC_ROOT = tempfile.mkdtemp(prefix="kefu-test-static-")
