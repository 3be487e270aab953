"""Test settings: base with fast hashing, tasks run inline, and the database from KEFU_DATABASE_URL if set."""

from __future__ import annotations

import atexit
import os
import shutil
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
# SQLite: the test database is a file (in /dev/shm when there is one), not SQLite's in-memory database with a
# shared cache. There, a connection that finds a table locked by another fails at once ("database table is
# locked") instead of waiting, so a test whose socket consumer stores a message while the live feed reads the
# outbox in another thread failed now and then; on a file, WAL and the busy timeout behave as in production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _SHM = "/dev/shm"  # noqa: S108 - mkdtemp below makes a private (0700) directory inside
    _SHM = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None
    _DB_DIR = tempfile.mkdtemp(prefix="kefu-test-db-", dir=_SHM)
    atexit.register(shutil.rmtree, _DB_DIR, ignore_errors=True)
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_DB_DIR, "test.sqlite3")}  # noqa: F405  (+ worker suffix)
# WhiteNoise serves from the finders in tests; an existing (empty) STATIC_ROOT keeps it from warning per request.
STATIC_ROOT = tempfile.mkdtemp(prefix="kefu-test-static-")
