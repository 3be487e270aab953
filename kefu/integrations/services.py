"""Webhook services: record a delivery for each subscribed endpoint, then let the worker send it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from kefu.integrations.models import WebhookDelivery, WebhookEndpoint


def ticket_payload(ticket_id: int) -> dict[str, Any] | None:
    from kefu.tickets.models import Ticket

    ticket = (Ticket.objects.select_related("customer", "assignee", "first_contact_owner", "category")
              .filter(pk=ticket_id).first())
    if ticket is None:
        return None
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "type": ticket.ticket_type,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "status": ticket.status,
        "customer_id": ticket.customer_id,
        "customer_code": ticket.customer.code if ticket.customer else None,
        "assignee_id": ticket.assignee_id,
        "first_contact_owner_id": ticket.first_contact_owner_id,
        "category": str(ticket.category) if ticket.category else None,
        "sla_standing": ticket.sla_standing,
        "sla_due_at": ticket.sla_due_at.isoformat() if ticket.sla_due_at else None,
        "escalation_level": ticket.escalation_level,
        "version": ticket.version,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }


@transaction.atomic
def webhook_emit_ticket_event(*, ticket_id: int, event: str, extra: dict[str, Any] | None = None) -> int:
    """Persist one delivery per subscribed endpoint and queue the sends after commit. Returns deliveries made."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if e.wants(event)]
    if not endpoints:
        return 0
    ticket = ticket_payload(ticket_id)
    if ticket is None:
        return 0
    payload = {"event": event, "occurred_at": timezone.now().isoformat(), "ticket": ticket, "data": extra or {}}
    deliveries = [WebhookDelivery.objects.create(endpoint=e, event=event, payload=payload,
                                                 next_attempt_at=timezone.now()) for e in endpoints]
    ids = [d.pk for d in deliveries]

    def _queue() -> None:
        from kefu.integrations.tasks import webhook_deliver_task

        for delivery_id in ids:
            webhook_deliver_task(delivery_id)

    transaction.on_commit(_queue)
    return len(deliveries)
