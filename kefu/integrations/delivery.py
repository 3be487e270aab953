"""Sending webhook deliveries: claim atomically, sign, POST, then record delivered / retry later / give up.

A delivery is claimed by a conditional UPDATE that pushes `next_attempt_at` out by a lease: two workers can
never send the same delivery at once, and a worker that dies mid-send only delays it by the lease.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kefu.integrations.models import WebhookDelivery
from kefu.integrations.signing import signature
from kefu.integrations.transport import SendResult, Transport, get_transport

logger = logging.getLogger(__name__)

# Wait after the n-th failed attempt (seconds); the last value repeats. Each wait gets ±20 % jitter so a
# receiver coming back up is not hit by every retry at the same second.
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600, 12 * 3600, 24 * 3600)
JITTER = 0.2
RETRY_BATCH = 50
OPEN_STATES = (WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING)


def backoff_seconds(failed_attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failed_attempts` (1 = the first attempt failed), jitter included."""
    base = BACKOFF_SECONDS[min(max(failed_attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def max_attempts() -> int:
    return max(1, int(settings.KEFU_WEBHOOK_MAX_ATTEMPTS))


def _lease() -> timedelta:
    return timedelta(seconds=float(settings.KEFU_WEBHOOK_TIMEOUT_SECONDS) + 60)


def encode_body(payload: Any) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def build_request(delivery: WebhookDelivery, *, timestamp: int) -> tuple[bytes, dict[str, str]]:
    body = encode_body(delivery.payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Kefu-Event": delivery.event,
        "X-Kefu-Delivery": str(delivery.event_id),
        "X-Kefu-Timestamp": str(timestamp),
        "X-Kefu-Signature": signature(delivery.endpoint.secret, timestamp, body),
    }
    return body, headers


def claim(delivery_id: int, *, now: datetime) -> bool:
    """Take the delivery for one attempt, or return False if it is not due or someone else has it."""
    with transaction.atomic():
        taken = WebhookDelivery.objects.filter(
            pk=delivery_id,
            state__in=OPEN_STATES,
            next_attempt_at__lte=now,
        ).update(next_attempt_at=now + _lease(), attempts=F("attempts") + 1)
    return taken == 1


def webhook_attempt(
    *,
    delivery_id: int,
    now: datetime | None = None,
    transport: Transport | None = None,
    rng: random.Random | None = None,
) -> WebhookDelivery | None:
    """One attempt at delivering. Returns the delivery as recorded, or None if it was not ours to send."""
    now = now or timezone.now()
    if not claim(delivery_id, now=now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not delivery.endpoint.is_active:
        result = SendResult(None, "endpoint disabled", permanent=True)
    else:
        body, headers = build_request(delivery, timestamp=int(time.time()))
        try:
            result = (transport or get_transport()).send(
                delivery.endpoint.url, body, headers, float(settings.KEFU_WEBHOOK_TIMEOUT_SECONDS)
            )
        except Exception as exc:
            logger.exception("webhook transport failed for delivery %s", delivery_id)
            result = SendResult(None, f"{type(exc).__name__}: {exc}")
    return _record(delivery, result, now=now, rng=rng)


def _record(
    delivery: WebhookDelivery, result: SendResult, *, now: datetime, rng: random.Random | None
) -> WebhookDelivery:
    fields: dict[str, Any] = {"last_status_code": result.status_code, "last_error": result.error[:500]}
    if result.ok:
        fields.update(state=WebhookDelivery.State.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif result.permanent or delivery.attempts >= max_attempts():
        fields.update(state=WebhookDelivery.State.GAVE_UP, next_attempt_at=None)
        logger.warning(
            "webhook delivery %s gave up after %s attempts: %s", delivery.pk, delivery.attempts, result.error
        )
    else:
        fields.update(
            state=WebhookDelivery.State.RETRYING,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(delivery.attempts, rng)),
        )
    # only if still ours: the attempt counter is what we claimed (a redeliver in between resets it)
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(**fields)
    delivery.refresh_from_db()
    return delivery


def webhook_retry_due(
    *, now: datetime | None = None, transport: Transport | None = None, limit: int = RETRY_BATCH
) -> int:
    """Attempt every delivery that is due (periodic task). Returns how many attempts were made here."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(state__in=OPEN_STATES, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    made = 0
    for delivery_id in due:
        if webhook_attempt(delivery_id=delivery_id, now=now, transport=transport) is not None:
            made += 1
    return made
