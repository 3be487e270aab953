"""Webhook services: a delivery per subscribed endpoint (sent later by the worker); redeliver."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import NotFound, PermissionDenied
from kefu.core.policy import has_right
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.permissions import IntegrationRight


def ticket_payload(ticket_id: int) -> dict[str, Any] | None:
    """The webhook's `ticket`: kefu.tickets.selectors.ticket_summary, plus the customer's code and the
    category's name for receivers that do not keep Kefu's ids."""
    from kefu.tickets.models import Ticket
    from kefu.tickets.selectors import ticket_summary

    ticket = Ticket.objects.select_related("customer", "category").filter(pk=ticket_id).first()
    if ticket is None:
        return None
    return {
        **ticket_summary(ticket),
        "customer_code": ticket.customer.code if ticket.customer else None,
        "category": str(ticket.category) if ticket.category else None,
    }


def _queue_after_commit(ids: list[int]) -> None:
    def _queue() -> None:
        from kefu.integrations.tasks import webhook_deliver_task

        for delivery_id in ids:
            webhook_deliver_task(delivery_id)

    transaction.on_commit(_queue)


@transaction.atomic
def webhook_emit_ticket_event(*, ticket_id: int, event: str, extra: dict[str, Any] | None = None) -> int:
    """Persist one delivery per subscribed endpoint and queue the sends after commit. Returns deliveries made.

    All endpoints get the same event id (`X-Kefu-Delivery`, and `id` in the body): receivers deduplicate
    retries on it.
    """
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if e.wants(event)]
    if not endpoints:
        return 0
    ticket = ticket_payload(ticket_id)
    if ticket is None:
        return 0
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "event": event,
        "occurred_at": now.isoformat(),
        "ticket": ticket,
        "data": extra or {},
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=e, event_id=event_id, event=event, payload=payload, next_attempt_at=now)
            for e in endpoints
        ]
    )
    ids = [d.pk for d in deliveries if d.pk] or list(
        WebhookDelivery.objects.filter(event_id=event_id).values_list("pk", flat=True)
    )
    _queue_after_commit(ids)
    return len(deliveries)


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
