"""What the conversation services share: the system actor of channels, limits, the retry schedule, the checks of
rights, text and versions, and the first-response clock."""

from __future__ import annotations

import logging
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.clocks.services import Calendars, clock_cancel, clock_new, clock_stop, clocks_create, clocks_save, open_clocks
from kefu.conversations import events
from kefu.conversations.choices import (
    ChannelKind,
)
from kefu.conversations.models import (
    Channel,
    Conversation,
    Message,
    MessageAttachment,
)
from kefu.core.actors import is_system, system_actor
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import can, has_right

log = logging.getLogger("kefu.conversations.services")


CHANNEL_ACTOR = system_actor("channel", gettext_lazy("系统：渠道接入"))

BODY_MAX = 20000

SUBJECT_MAX = 200

FIRST_RESPONSE = "first_response"

# Wait after the n-th failed send (seconds), ±20 % jitter; the last value repeats until MAX_ATTEMPTS.
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)

MAX_ATTEMPTS = 12

SEND_LEASE = timedelta(seconds=120)

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")

TICKET_CHANNEL = {  # a conversation's channel kind → the work order's source channel
    ChannelKind.CHAT: "chat", ChannelKind.EMAIL: "email", ChannelKind.WECHAT_OA: "wechat",
    ChannelKind.WECOM_KF: "wechat", ChannelKind.WEBHOOK: "api", ChannelKind.SMS: "sms",
    ChannelKind.PHONE: "phone",
}

# channel kinds nothing is sent through (a phone conversation is the record of a call: agents call back)
SILENT_KINDS = frozenset({ChannelKind.PHONE})


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    message: Message
    duplicate: bool  # the channel had already delivered this message: nothing was written
    opened: bool  # a new conversation was opened for it


@dataclass(frozen=True)
class AttachmentIn:
    """A file an agent (or a widget visitor) sends."""

    filename: str
    content_type: str
    content: bytes


def _require(actor: Any, right: str, conversation: Conversation | None = None) -> None:
    if is_system(actor):
        return
    if conversation is None:
        if not has_right(actor, right):
            raise PermissionDenied(_("您没有权限执行此操作"), details={"action": str(right)})
        return
    if not can(actor, right, conversation):
        raise PermissionDenied(_("您没有权限处理这个会话"), details={"action": str(right)})


def _text(value: Any, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationFailed(_("%(label)s不能为空") % {"label": label}, details={"field": field})
    if len(text) > max_length:
        raise ValidationFailed(_("%(label)s不能超过 %(n)s 个字符") % {"label": label, "n": max_length},
                               details={"field": field})
    return text


def _lock(conversation: Conversation | int) -> Conversation:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    try:
        return Conversation.objects.select_for_update().select_related("channel").get(pk=pk)
    except Conversation.DoesNotExist:
        raise NotFound(_("会话不存在")) from None


def _check_version(conversation: Conversation, expected: int | None) -> None:
    if expected is not None and expected != conversation.version:
        raise Conflict(_("会话已被他人更新，请刷新后重试"), code="stale_version",
                       details={"current": events.conversation_info(conversation)})


def _bump(conversation: Conversation, *fields: str) -> None:
    conversation.version += 1
    conversation.save(update_fields=[*fields, "version"])


def sanitize_html(html: str) -> str:
    """HTML from outside (e-mail) made safe to show: no scripts, styles, event handlers or remote frames;
    links open outside Kefu."""
    if not html:
        return ""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow",
                     url_schemes={"http", "https", "mailto", "tel", "cid"})


def first_response_target(channel: Channel) -> int:
    if channel.first_response_seconds:
        return int(channel.first_response_seconds)
    targets = settings.KEFU_FIRST_RESPONSE_SECONDS
    return int(targets.get(channel.kind, targets.get("default", 30)))


def _next_seq(conversation: Conversation) -> int:
    conversation.last_seq += 1
    return conversation.last_seq


def _store_attachments(message: Message, files: Sequence[Any]) -> int:
    stored = 0
    for item in files:
        content = item.content
        name = (item.filename or "file").replace("/", "_").replace("\\", "_")[-200:] or "file"
        suffix = ("." + name.rsplit(".", 1)[1].lower()[:10]) if "." in name else ""
        attachment = MessageAttachment(
            message=message, conversation_id=message.conversation_id, storage_name=f"{uuid.uuid4().hex}{suffix}",
            filename=name, content_type=(item.content_type or mimetypes.guess_type(name)[0]
                                         or "application/octet-stream")[:100],
            size=len(content), content_id=getattr(item, "content_id", "")[:200])
        attachment.file.save(attachment.storage_name, ContentFile(content), save=False)
        attachment.save()
        stored += 1
    return stored


def _start_first_response_clock(conversation: Conversation, at: datetime) -> None:
    channel = conversation.channel
    clocks_create([clock_new(subject=conversation, metric=FIRST_RESPONSE, target_seconds=first_response_target(
        channel), calendar=channel.calendar, at=at, warning_fraction=settings.KEFU_SLA_WARNING_FRACTION,
        origin=f"channel:{channel.code}")])


def _stop_first_response_clock(conversation: Conversation, at: datetime, *, cancel: bool = False) -> None:
    calendars = Calendars()
    clocks = open_clocks(conversation, [FIRST_RESPONSE])
    for clock in clocks:
        if cancel:
            clock_cancel(clock, at, calendars)
        else:
            clock_stop(clock, at, subject=conversation, calendars=calendars)
    clocks_save(clocks)
