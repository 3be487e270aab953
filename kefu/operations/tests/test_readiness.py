"""/healthz says the process answers; /readyz checks the database, its migrations, Redis (when configured) and the
worker's heartbeat: 200 when all hold, 503 naming the check that failed, never a secret, open without sign-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from kefu.operations import readiness
from kefu.operations.models import Heartbeat
from kefu.operations.services import WORKER, heartbeat_record
from kefu.operations.tasks import worker_heartbeat_task

pytestmark = pytest.mark.django_db


def _get(client: Client | None = None) -> tuple[int, dict[str, Any]]:
    response = (client or Client()).get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return response.status_code, response.json()


def test_ready_when_every_check_holds(settings: Any) -> None:
    heartbeat_record()
    status, body = _get()
    assert status == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["migrations"] == {"status": "ok"}
    assert checks["redis"] == {"status": "ok" if settings.REDIS_URL else "off"}
    assert checks["worker"]["status"] == "ok"
    assert checks["worker"]["max_age_seconds"] == 180
    assert 0 <= checks["worker"]["age_seconds"] <= 180


def test_readiness_is_cheap(django_assert_max_num_queries: Any) -> None:
    heartbeat_record()
    with django_assert_max_num_queries(3):  # SELECT 1, the applied migrations, the heartbeat
        assert _get()[0] == 200


def test_no_heartbeat_yet_is_not_ready() -> None:
    status, body = _get()
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["worker"] == {"status": "fail", "reason": "no_heartbeat", "max_age_seconds": 180}
    assert body["checks"]["database"] == {"status": "ok"}


def test_a_stale_heartbeat_is_not_ready(settings: Any) -> None:
    now = timezone.now()
    heartbeat_record(now=now - timedelta(seconds=181))
    check = readiness.check_worker(now=now)
    assert check.as_dict() == {"status": "fail", "reason": "stale", "age_seconds": 181, "max_age_seconds": 180}
    assert readiness.check_worker(now=now - timedelta(seconds=1)).as_dict()["status"] == "ok"  # 180 s: still in time
    settings.KEFU_HEARTBEAT_MAX_AGE = 600
    assert readiness.check_worker(now=now).as_dict()["status"] == "ok"
    settings.KEFU_HEARTBEAT_MAX_AGE = 180
    heartbeat_record(now=timezone.now() - timedelta(hours=1))
    status, body = _get()
    assert status == 503
    assert body["checks"]["worker"]["reason"] == "stale"


def test_the_worker_check_can_be_left_out(settings: Any) -> None:
    settings.KEFU_HEARTBEAT_MAX_AGE = 0
    status, body = _get()
    assert status == 200
    assert body["checks"]["worker"] == {"status": "off"}


def test_a_database_that_does_not_answer_is_not_ready(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    heartbeat_record()
    password = "database-password-in-the-error"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError(f'connection to server at "db.internal" failed: password {password} rejected')

    monkeypatch.setattr(connection, "cursor", broken)
    status, body = readiness_status()
    assert status == 503
    assert body["checks"]["database"] == {"status": "fail", "reason": "unavailable", "error": "OperationalError"}
    assert body["checks"]["migrations"] == {"status": "fail", "reason": "database"}
    assert body["checks"]["worker"] == {"status": "fail", "reason": "database"}
    assert password not in str(body)
    assert "db.internal" not in str(body)


def readiness_status() -> tuple[int, dict[str, Any]]:
    ready, body = readiness.readiness()
    return (200 if ready else 503), body


def test_unapplied_migrations_are_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    heartbeat_record()
    known = readiness._known_migrations()
    monkeypatch.setattr(readiness, "_known_migrations", lambda: known | {("tickets", "9999_not_migrated_yet")})
    status, body = _get()
    assert status == 503
    assert body["checks"]["migrations"] == {"status": "fail", "reason": "pending", "pending": 1}


def test_a_redis_that_does_not_answer_is_not_ready(settings: Any) -> None:
    heartbeat_record()
    settings.REDIS_URL = "redis://:redis-secret@127.0.0.1:1/0"  # nothing listens on port 1
    status, body = _get()
    assert status == 503
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["redis"]["reason"] == "unavailable"
    assert "redis-secret" not in str(body)
    assert "127.0.0.1" not in str(body)


def test_open_without_sign_in_and_during_a_forced_password_change(agent: Any) -> None:
    heartbeat_record()
    assert _get()[0] == 200
    agent.must_change_password = True
    agent.save(update_fields=["must_change_password"])
    client = Client()
    client.force_login(agent)
    assert _get(client)[0] == 200
    assert client.get("/healthz").status_code == 200


def test_healthz_is_liveness_only(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):  # no heartbeat, yet alive: readiness is /readyz's
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_worker_records_its_heartbeat() -> None:
    worker_heartbeat_task.call_local()
    beat = Heartbeat.objects.get(name=WORKER)
    assert timezone.now() - beat.beat_at < timedelta(minutes=5)
    assert beat.pid
    later = beat.beat_at + timedelta(minutes=1)
    heartbeat_record(now=later)
    assert Heartbeat.objects.get(name=WORKER).beat_at == later
    assert Heartbeat.objects.count() == 1
