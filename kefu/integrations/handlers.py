"""Webhooks as a consumer of the outbox: any event type, not only work orders."""

from __future__ import annotations

from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer


def handle(batch: list[OutboxEvent]) -> None:
    from kefu.integrations.services import webhook_deliveries_for

    webhook_deliveries_for(batch)


def has_endpoints() -> bool:
    from kefu.integrations.models import WebhookEndpoint

    return WebhookEndpoint.objects.filter(is_active=True).exists()


def register() -> None:
    register_consumer(Consumer(name="integrations.webhooks", handle=handle, active=has_endpoints,
                               description="webhook deliveries to the endpoints subscribed to each event"))
