"""What the pushes of WeChat, WeCom and the SMS providers lead to, in the worker or the hook: a WeChat media
message stored once its media are downloaded, WeCom's new messages pulled from the cursor kept in the channel's
state, SMS delivery reports and replies. Writes go through `kefu.conversations.services` (message_receive,
message_delivery_update); the only write of its own is the WeCom cursor, in one short transaction."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.adapters.sms import Report
from kefu.conversations.adapters.weixin import WxError
from kefu.conversations.choices import ChannelKind, DeliveryState, Direction
from kefu.conversations.models import Channel, Message
from kefu.conversations.services import Received, message_delivery_update, message_receive
from kefu.core.errors import ApplicationError

log = logging.getLogger("kefu.conversations.pushes")

SYNC_PAGES_MAX = 50  # pages of kf/sync_msg in one run (50,000 messages); the next callback goes on from the cursor
CURSORS = "wecom_cursors"  # channel.state key: {open_kfid or "*": cursor}


def _known(channel: Channel, external_id: str) -> bool:
    return Message.objects.filter(channel=channel, direction=Direction.INBOUND, external_id=external_id).exists()


def wechat_receive(*, channel: Channel, fields: dict[str, str], last_try: bool = True) -> Received | None:
    """Store a pushed official-account message whose media must be downloaded first (the worker's part of the
    hook). A redelivered push is recognised before anything is downloaded. Raises ApiError while WeChat cannot be
    reached and it is not the `last_try` (the task is retried); on the last try the message is stored without
    its media."""
    adapter: Any = adapter_for(ChannelKind.WECHAT_OA)
    if not channel.is_active or _known(channel, adapter.external_id(fields)):
        return None
    inbound = adapter.inbound(channel, fields, last_try=last_try)
    return message_receive(channel=channel, inbound=inbound)


def _cursor_key(open_kfid: str) -> str:
    return open_kfid or "*"


@transaction.atomic
def wecom_cursor_save(*, channel: Channel, open_kfid: str, cursor: str) -> None:
    """Keep the sync cursor of one customer-service account in the channel's state (other keys untouched)."""
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    state = dict(locked.state or {})
    cursors = dict(state.get(CURSORS) or {})
    cursors[_cursor_key(open_kfid)] = cursor
    state[CURSORS] = cursors
    Channel.objects.filter(pk=channel.pk).update(state=state)
    channel.state = state


def wecom_cursor(channel: Channel, open_kfid: str) -> str:
    return str(((channel.state or {}).get(CURSORS) or {}).get(_cursor_key(open_kfid), ""))


def wecom_sync(*, channel: Channel, token: str = "", open_kfid: str = "", last_try: bool = True) -> int:
    """Pull what is new on a WeCom customer-service account since the cursor and store it: the customers'
    messages and enter_session events as inbound messages, `msg_send_fail` events as failed deliveries. The cursor
    moves on after each page is stored, so a crash repeats at most one page (whose messages are recognised as
    duplicates). Returns how many new inbound messages were stored. Raises ApiError / WxError when WeCom cannot
    be asked (the task is retried)."""
    adapter: Any = adapter_for(ChannelKind.WECOM_KF)
    channel.refresh_from_db(fields=["state", "is_active"])
    if not channel.is_active:
        return 0
    cursor, stored = wecom_cursor(channel, open_kfid), 0
    for _page in range(SYNC_PAGES_MAX):
        try:
            items, next_cursor, has_more = adapter.sync_page(channel, cursor=cursor, token=token,
                                                             open_kfid=open_kfid)
        except WxError as exc:
            if not token:
                raise
            # the callback's token lives 10 minutes: a late retry pulls without it (more strictly rate-limited)
            log.info("wecom %s: sync with the callback token refused (%s), pulling without it", channel.code, exc)
            token = ""
            items, next_cursor, has_more = adapter.sync_page(channel, cursor=cursor, token="", open_kfid=open_kfid)
        for item in items:
            stored += _wecom_item(channel, adapter, item, last_try=last_try)
        if next_cursor and next_cursor != cursor:
            wecom_cursor_save(channel=channel, open_kfid=open_kfid, cursor=next_cursor)
            cursor = next_cursor
        if not has_more:
            break
    return stored


def wecom_accounts_synced(channel: Channel) -> list[str]:
    """The customer-service accounts of a channel that have been pulled before (a cursor is kept): those a
    catch-up pull may go on with. "" stands for "every account of the application"."""
    keys = ((channel.state or {}).get(CURSORS) or {}).keys()
    return sorted("" if key == "*" else str(key) for key in keys)


def wecom_catch_up(*, channel: Channel) -> int:
    """Pull what WeCom holds beyond the cursors even though no callback said so (a callback lost on the way, a
    restart while one was queued). Without the callback's token (WeCom limits such pulls more strictly: this
    runs every few minutes). Never starts an account from no cursor: that would bring back days of history.
    Returns how many messages were stored."""
    stored = 0
    for open_kfid in wecom_accounts_synced(channel):
        stored += wecom_sync(channel=channel, token="", open_kfid=open_kfid)
    return stored


def _wecom_item(channel: Channel, adapter: Any, item: dict[str, Any], *, last_try: bool) -> int:
    failed = adapter.failed_send(item)
    if failed is not None:
        external_id, error = failed
        if external_id:
            message_delivery_update(channel=channel, external_id=external_id, state=DeliveryState.FAILED,
                                    error=error)
        return 0
    msgid = str(item.get("msgid", ""))
    if not msgid or not adapter.serves(channel, str(item.get("open_kfid", ""))) or _known(channel, msgid):
        return 0
    inbound = adapter.inbound(channel, item, last_try=last_try)
    if inbound is None:
        return 0
    try:
        received = message_receive(channel=channel, inbound=inbound)
    except ApplicationError as exc:  # one bad message must not hold up the rest of the page
        log.warning("wecom %s: message %s not stored: %s", channel.code, msgid, exc)
        return 0
    return 0 if received.duplicate else 1


def sms_reports(*, channel: Channel, reports: list[Report]) -> int:
    """Apply delivery reports; returns how many matched a message Kefu sent."""
    matched = 0
    for report in reports:
        state = DeliveryState.DELIVERED if report.state == "delivered" else DeliveryState.FAILED
        if message_delivery_update(channel=channel, external_id=report.external_id, state=state,
                                   error=report.error, at=report.at) is not None:
            matched += 1
    return matched


def sms_replies(*, channel: Channel, messages: list[Any]) -> list[Received]:
    """Store customers' SMS replies (each idempotent on its id)."""
    return [message_receive(channel=channel, inbound=inbound) for inbound in messages]
