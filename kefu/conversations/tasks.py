"""Worker tasks of conversations (thin: the logic lives in services and pushes)."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task


@db_task()
def deliver_task(message_id: int) -> None:
    from kefu.conversations.services import message_deliver

    message_deliver(message_id=message_id)


@db_periodic_task(crontab(minute="*"))
def retry_due_task() -> None:
    """Messages whose retry is due, and any whose hand-over to the worker was lost."""
    from kefu.conversations.services import messages_retry_due

    messages_retry_due()


@db_task(retries=4, retry_delay=30, context=True)
def wechat_receive_task(channel_id: int, fields: dict[str, str], task: Any = None) -> None:
    """An official-account message with media: download, then store (retried while WeChat is out of reach)."""
    from kefu.conversations.models import Channel
    from kefu.conversations.pushes import wechat_receive

    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is not None:
        wechat_receive(channel=channel, fields=fields, last_try=task is None or not task.retries)


@db_task(retries=5, retry_delay=10, context=True)
def wecom_sync_task(channel_id: int, token: str, open_kfid: str, task: Any = None) -> None:
    """Pull a WeCom customer-service account's new messages. One pull per channel at a time: a second callback
    arriving meanwhile waits (retried) and then pulls from where the first left the cursor."""
    from kefu.conversations.models import Channel
    from kefu.conversations.pushes import wecom_sync

    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return
    with HUEY.lock_task(f"wecom-sync-{channel_id}"):
        wecom_sync(channel=channel, token=token, open_kfid=open_kfid, last_try=task is None or not task.retries)


@db_periodic_task(crontab(minute="*/5"))
def wecom_catch_up_task() -> None:
    """Every five minutes: pull each WeCom customer-service account from its cursor, so a lost callback delays
    messages by minutes, not until the customer writes again. A channel being pulled right now is skipped."""
    import logging

    from huey.exceptions import TaskLockedException

    from kefu.conversations.adapters.apiclient import ApiError
    from kefu.conversations.adapters.weixin import WxError
    from kefu.conversations.choices import ChannelKind
    from kefu.conversations.models import Channel
    from kefu.conversations.pushes import wecom_catch_up

    for channel in Channel.objects.filter(kind=ChannelKind.WECOM_KF, is_active=True):
        try:
            with HUEY.lock_task(f"wecom-sync-{channel.pk}"):
                wecom_catch_up(channel=channel)
        except TaskLockedException:
            continue
        except (ApiError, WxError) as exc:  # WeCom out of reach or refusing: the next round tries again
            logging.getLogger(__name__).warning("wecom %s: catch-up pull failed: %s", channel.code, exc)


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
