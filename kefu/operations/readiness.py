"""The readiness checks behind /readyz: the database answers and is migrated, Redis answers (when configured) and
the worker's heartbeat is recent. Each check is cheap (one query or one PING) and says only ok or what failed:
no host names, users or error texts, since /readyz is open to anyone who can reach it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)

OK = "ok"
FAIL = "fail"
OFF = "off"  # not configured here: nothing to check

DEFAULT_HEARTBEAT_MAX_AGE = 180  # seconds: three missed beats of the minutely heartbeat


@dataclass(frozen=True)
class Check:
    status: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **self.detail}


def _one_line(exc: BaseException) -> str:
    # a probe every few seconds during an outage: one line each in the server's log, not a traceback
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def heartbeat_max_age() -> int:
    """Seconds after which the worker counts as gone (KEFU_HEARTBEAT_MAX_AGE; 0 turns the worker check off)."""
    return int(getattr(settings, "KEFU_HEARTBEAT_MAX_AGE", DEFAULT_HEARTBEAT_MAX_AGE))


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("readiness: the database does not answer: %s", _one_line(exc))
        return Check(FAIL, {"reason": "unavailable", "error": type(exc).__name__})
    return Check(OK)


@cache
def _known_migrations() -> frozenset[tuple[str, str]]:
    """Every migration this code ships (read from disk once per process)."""
    from django.db.migrations.loader import MigrationLoader

    return frozenset(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def check_migrations() -> Check:
    """The database has every migration of this code applied (after an upgrade: until `kefu migrate` has run)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = {(app, name) for app, name in cursor.fetchall()}
    except Exception as exc:
        log.warning("readiness: cannot read the applied migrations: %s", _one_line(exc))
        return Check(FAIL, {"reason": "unavailable", "error": type(exc).__name__})
    pending = len(_known_migrations() - applied)
    if pending:
        return Check(FAIL, {"reason": "pending", "pending": pending})
    return Check(OK)


_redis_clients: dict[str, Any] = {}  # one client (and its connection pool) per URL and process


def check_redis() -> Check:
    """PING the Redis that carries the cache, the channel layer and the Huey queue (when configured)."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return Check(OFF)
    try:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=1.0,
                                                                socket_connect_timeout=1.0)
        client.ping()
    except Exception as exc:
        log.warning("readiness: Redis does not answer: %s", _one_line(exc))
        return Check(FAIL, {"reason": "unavailable", "error": type(exc).__name__})
    return Check(OK)


def check_worker(*, now: datetime | None = None) -> Check:
    """The worker's last heartbeat is younger than heartbeat_max_age() seconds."""
    from kefu.operations.models import Heartbeat
    from kefu.operations.services import WORKER

    max_age = heartbeat_max_age()
    if max_age <= 0:
        return Check(OFF)
    try:
        beat_at = Heartbeat.objects.filter(name=WORKER).values_list("beat_at", flat=True).first()
    except Exception as exc:
        log.warning("readiness: cannot read the worker's heartbeat: %s", _one_line(exc))
        return Check(FAIL, {"reason": "unavailable", "error": type(exc).__name__})
    if beat_at is None:
        return Check(FAIL, {"reason": "no_heartbeat", "max_age_seconds": max_age})
    age = max(0, int(((now or timezone.now()) - beat_at).total_seconds()))
    if age > max_age:
        return Check(FAIL, {"reason": "stale", "age_seconds": age, "max_age_seconds": max_age})
    return Check(OK, {"age_seconds": age, "max_age_seconds": max_age})


def readiness(*, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """Run every check → (ready, the body of /readyz)."""
    database = check_database()
    checks = {
        "database": database,
        "migrations": check_migrations() if database.status == OK else Check(FAIL, {"reason": "database"}),
        "redis": check_redis(),
        "worker": check_worker(now=now) if database.status == OK else Check(FAIL, {"reason": "database"}),
    }
    ready = all(check.status != FAIL for check in checks.values())
    return ready, {"status": "ok" if ready else "unavailable",
                   "checks": {name: check.as_dict() for name, check in checks.items()}}
