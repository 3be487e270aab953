"""Webhooks as a consumer of the outbox: any event type, not only work orders."""

from __future__ import annotations

from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer


def handle(batch: list[OutboxEvent]) -> None:
    from kefu.integrations.services import webhook_deliveries_for

    webhook_deliveries_for(batch)


def register() -> None:
    register_consumer(Consumer(name="integrations.webhooks", handle=handle,
                               description="webhook deliveries to the endpoints subscribed to each event"))
