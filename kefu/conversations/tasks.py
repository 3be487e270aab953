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


@db_periodic_task(crontab(minute="*"))
def mailboxes_poll_task() -> None:
    """Every minute: a poll for each e-mail channel that is due (its `poll_minutes`, default 1)."""
    from kefu.conversations.mailboxes import mailboxes_due

    for channel_id in mailboxes_due():
        mailbox_poll_task(channel_id)


@db_task()
def mailbox_poll_task(channel_id: int) -> None:
    """One mailbox's new mail; a full batch goes on at once (a backlog is not left for the next minute)."""
    from kefu.conversations.mailboxes import mailbox_poll
    from kefu.conversations.models import Channel

    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return
    result = mailbox_poll(channel=channel)
    if result.more and not result.error and result.fetched:
        mailbox_poll_task(channel_id)
