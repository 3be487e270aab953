"""`Idempotency-Key` on creates: the same key and body replay the stored answer; a reused key with another
body is refused. The key row is inserted first, in the create's own transaction, so the unique constraint
(user, key) makes a concurrent duplicate wait and then replay instead of creating a second object."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel

from kefu.core.errors import ApplicationError, ValidationFailed
from kefu.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
KEY_MAX = 200


def request_fingerprint(request: HttpRequest, payload: Any) -> str:
    """SHA-256 over method, path and the canonical JSON of the validated body (key order does not matter)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _respond(status: int, body: Any, *, replayed: bool) -> JsonResponse:
    response = JsonResponse(body, status=status, safe=False, json_dumps_params={"ensure_ascii": False})
    if replayed:
        response[REPLAY_HEADER] = "true"
    return response


def _rendered_by(schema: type[BaseModel], create: Callable[[], tuple[int, Any]]) -> Callable[[], tuple[int, Any]]:
    def rendered() -> tuple[int, Any]:
        status, body = create()
        return status, json.loads(json.dumps(schema.model_validate(body).model_dump(), cls=NinjaJSONEncoder))

    return rendered


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise ValidationFailed(
            _("Idempotency-Key 必须是 1 到 %(n)s 个可打印字符") % {"n": KEY_MAX},
            code="invalid_idempotency_key",
            details={"header": HEADER},
        )
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> JsonResponse:
    if record.request_hash != fingerprint:
        raise ApplicationError(
            _("该 Idempotency-Key 已用于另一个不同的请求；新的请求请使用新的 Key"),
            code="idempotency_key_reused",
            status=422,
            details={"header": HEADER, "first_used_at": record.created_at.isoformat()},
        )
    return _respond(record.status_code or 200, record.response, replayed=True)


def idempotent_create(
    request: HttpRequest,
    *,
    user: Any,
    payload: Any,
    create: Callable[[], tuple[int, Any]],
    now: datetime | None = None,
    redact: Callable[[Any], Any] | None = None,
    schema: type[BaseModel] | None = None,
) -> JsonResponse:
    """Run `create` (returning status and JSON body) at most once per (user, Idempotency-Key).

    Without the header the create just runs. Failed creates (an ApplicationError) store nothing: the key
    row is rolled back with them, so the client may retry with the same key. `redact` removes secrets
    (a new token's key) from the stored copy: a replay answers without them. `schema`, the endpoint's response
    schema, renders the body exactly as the API renders that schema everywhere else (dates and all).
    """
    if schema is not None:
        create = _rendered_by(schema, create)
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        status, body = create()
        return _respond(status, body, replayed=False)
    key = _check_key(raw_key)
    fingerprint = request_fingerprint(request, payload)
    now = now or timezone.now()
    with transaction.atomic():
        try:
            with (
                transaction.atomic()
            ):  # savepoint: the duplicate insert must not poison the outer transaction
                record = IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=request.method or "",
                    path=request.path[:300],
                    request_hash=fingerprint,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if existing is None or existing.created_at >= now - TTL:
                if existing is None:  # deleted between our insert and read: extremely rare, ask for a retry
                    raise ApplicationError(
                        _("请求冲突，请重试"), code="idempotency_conflict", status=409
                    ) from None
                return _replay(existing, fingerprint)
            # an expired record that the cleanup task has not removed yet: the key is free again
            existing.delete()
            record = IdempotencyRecord.objects.create(
                user=user,
                key=key,
                method=request.method or "",
                path=request.path[:300],
                request_hash=fingerprint,
            )
        status, body = create()
        record.status_code = status
        record.response = redact(body) if redact else body
        record.save(update_fields=["status_code", "response"])
    return _respond(status, body, replayed=False)


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    """Delete records older than 24 h (periodic task). Returns how many were removed."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _detail = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
