"""Webhook services: a delivery per subscribed endpoint (sent later by the worker); redeliver."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied
from kefu.core.models import OutboxEvent
from kefu.core.policy import has_right
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.permissions import IntegrationRight

PRIVATE_EVENT_PREFIXES = ("notification.",)  # a person's own notifications are not for other systems


def webhook_body(event: OutboxEvent) -> dict[str, Any]:
    """What a receiver gets: the event's identity and its payload (a work-order event carries `ticket`, the order
    after the change, and `data`, what changed). `id` is stable across retries and redeliveries."""
    return {
        "id": str(event.uid),
        "event": event.type,
        "version": event.version,
        "occurred_at": event.created_at.isoformat(),
        "object": {"type": event.object_type, "id": event.object_id},
        **(event.payload or {}),
    }


def _queue_after_commit(ids: list[int]) -> None:
    def _queue() -> None:
        from kefu.integrations.tasks import webhook_deliver_task

        for delivery_id in ids:
            webhook_deliver_task(delivery_id)

    transaction.on_commit(_queue, robust=True)


def webhook_deliveries_for(batch: list[OutboxEvent]) -> int:
    """The outbox consumer "integrations.webhooks": one delivery per subscribed endpoint and event (unique per
    endpoint and event id, so a replayed event adds nothing), sent by the worker after commit → deliveries."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [WebhookDelivery(endpoint=endpoint, event_id=event.uid, event=event.type, payload=webhook_body(event),
                            next_attempt_at=now)
            for event in batch if not event.type.startswith(PRIVATE_EVENT_PREFIXES)
            for endpoint in endpoints if endpoint.wants(event.type)]
    if not rows:
        return 0
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(WebhookDelivery.objects.filter(event_id__in=[r.event_id for r in rows], state="pending",
                                              attempts=0).values_list("pk", flat=True))
    _queue_after_commit(ids)
    return len(rows)


@transaction.atomic
def webhook_redeliver(*, actor: Any, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again from scratch (an administrator's "redeliver"): attempts restart at zero, the
    event id stays the same so the receiver can still deduplicate."""
    if not has_right(actor, IntegrationRight.WEBHOOK_MANAGE):
        raise PermissionDenied(_("只有系统管理员可以重新投递 Webhook"))
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(_("投递记录不存在"), details={"delivery_id": delivery_id})
    previous = {"state": delivery.state, "attempts": delivery.attempts}
    delivery.state = WebhookDelivery.State.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "attempts", "next_attempt_at"])
    audit_record(
        actor=actor,
        action="webhook.redelivered",
        obj=delivery,
        summary=f"{delivery.event} → {delivery.endpoint_id}",
        data=previous,
    )
    _queue_after_commit([delivery.pk])
    return delivery
