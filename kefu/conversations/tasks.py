"""Worker tasks of conversations (thin: the logic lives in services)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def deliver_task(message_id: int) -> None:
    from kefu.conversations.services import message_deliver

    message_deliver(message_id=message_id)


@db_periodic_task(crontab(minute="*"))
def retry_due_task() -> None:
    """Messages whose retry is due, and any whose hand-over to the worker was lost."""
    from kefu.conversations.services import messages_retry_due

    messages_retry_due()
