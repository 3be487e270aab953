"""Worker tasks: send a notification delivery, and retry the due ones every minute. Thin: see services.py."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def notification_deliver_task(delivery_id: int) -> None:
    from kefu.notifications.services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@db_periodic_task(crontab(minute="*"))
def notification_retry_due_task() -> None:
    from kefu.notifications.services import deliveries_retry_due

    deliveries_retry_due()
