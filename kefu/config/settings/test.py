"""Test settings: base with fast hashing, tasks run inline, and the database from KEFU_DATABASE_URL if set."""

from __future__ import annotations

import tempfile

from kefu.config.settings.base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}  # noqa: F405
MEDIA_ROOT = tempfile.mkdtemp(prefix="kefu-test-media-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
