"""Worker tasks for webhooks and API housekeeping (thin: the logic lives in delivery.py / apiutils)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def webhook_deliver_task(delivery_id: int) -> None:
    from kefu.integrations.delivery import webhook_attempt

    webhook_attempt(delivery_id=delivery_id)


@db_periodic_task(crontab(minute="*"))
def webhook_retry_due_task() -> None:
    from kefu.integrations.delivery import webhook_retry_due

    webhook_retry_due()


@db_periodic_task(crontab(minute="17"))
def idempotency_cleanup_task() -> None:
    """Idempotency-Key records live 24 h."""
    from kefu.apiutils.idempotency import idempotency_purge_expired

    idempotency_purge_expired()
