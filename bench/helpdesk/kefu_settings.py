"""Kefu's own base settings for the benchmark: DEBUG off (the default), the timing middleware first and the
same database-connection policy as the peer (Kefu's default connection pool, or none with BENCH_DB_POOL=0).
Nothing else changes."""

import os

from kefu.config.settings.base import *  # noqa: F403
from kefu.config.settings.base import DATABASES, MIDDLEWARE

DEBUG = False
MIDDLEWARE = ["timing.ServiceTimeMiddleware", *MIDDLEWARE]
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "0"))
if os.environ.get("BENCH_DB_POOL", "1") != "1":
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
