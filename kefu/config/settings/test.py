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
# Parallel test workers share one Redis when KEFU_REDIS_URL is set — and so do the test runs of several checkouts
# on one machine. Each worker keeps to its own keys: a cache prefix whose clear() deletes only those keys (not the
# whole database, which the first test of another worker would otherwise empty), a channel-layer prefix, and a
# pub/sub channel of its own (pub/sub ignores the database number). The database number given is kept.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
CACHES["default"]["KEY_PREFIX"] = f"kefu-test-{_WORKER or 'main'}-{os.getpid()}"  # noqa: F405
KEFU_LIVE_CHANNEL = f"kefu:live:test-{_WORKER or 'main'}-{os.getpid()}"
if REDIS_URL:  # noqa: F405
    CACHES["default"]["BACKEND"] = "kefu.config.test_cache.WorkerRedisCache"  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"asgi-test-{_WORKER or 'main'}-{os.getpid()}"  # noqa: F405
# WhiteNoise serves from the finders in tests; an existing (empty) STATIC_ROOT keeps it from warning per request.
STATIC_ROOT = tempfile.mkdtemp(prefix="kefu-test-static-")
