"""Reads of the notifications app: a person's notices (worded in their language), the unread count, the
preferences grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from kefu.notifications.adapters.registry import configured_channels
from kefu.notifications.choices import Channel
from kefu.notifications.kinds import KINDS, title_of
from kefu.notifications.models import Notification, Preference

PAGE_SIZE = 30
LATEST = 8


@dataclass(frozen=True)
class NoticeRow:
    id: int
    kind: str
    title: str
    link: str
    created_at: Any
    read: bool


UNREAD_TTL = 600


def _unread_key(user_id: int) -> str:
    return f"kefu:unread:{user_id}"


def unread_count(*, user: Any) -> int:
    """The bell's number, shown on every page: from the cache, forgotten whenever it changes
    (`forget_unread`)."""
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()
        cache.set(key, count, UNREAD_TTL)
    return int(count)


def forget_unread(user_ids: Any) -> None:
    """After the transaction that made or read notices commits, the cached counts of their recipients go."""
    keys = [_unread_key(pk) for pk in set(user_ids)]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


def notice_rows(*, user: Any, unread_only: bool = False, before_id: int | None = None,
                limit: int = PAGE_SIZE) -> list[NoticeRow]:
    """Newest first, `limit` rows (keyset on the id), titles in the active language."""
    qs = Notification.objects.filter(recipient_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    rows = qs.order_by("-id").only("id", "kind", "params", "link", "created_at", "read_at")[:limit]
    return [NoticeRow(id=n.pk, kind=n.kind, title=title_of(n.kind, n.params), link=n.link,
                      created_at=n.created_at, read=n.read_at is not None) for n in rows]


@dataclass(frozen=True)
class PreferenceCell:
    channel: str
    label: str
    enabled: bool
    always: bool  # in-app: always on


@dataclass(frozen=True)
class PreferenceRow:
    kind: str
    label: str
    cells: list[PreferenceCell]


def preference_grid(*, user: Any) -> tuple[list[tuple[str, str]], list[PreferenceRow]]:
    """The channels offered (in-app and those configured) and, per kind, whether each is on."""
    channels = [(Channel.IN_APP.value, str(Channel.IN_APP.label))] + [
        (c, str(Channel(c).label)) for c in Channel.values if c in configured_channels()]
    stored = {(p.kind, p.channel): p.enabled for p in Preference.objects.filter(user_id=user.pk)}
    rows = []
    for kind in KINDS.values():
        cells = [PreferenceCell(channel=c, label=label, always=c == Channel.IN_APP,
                                enabled=c == Channel.IN_APP or stored.get((kind.code, str(c)), c in kind.defaults))
                 for c, label in channels]
        rows.append(PreferenceRow(kind=kind.code, label=str(kind.label), cells=cells))
    return channels, rows


def channel_notes() -> list[str]:
    """Why a channel is not offered, for the preferences page."""
    notes = []
    configured = configured_channels()
    if Channel.EMAIL not in configured:
        notes.append(_("邮件通知未开启：管理员需配置发信服务器（KEFU_SMTP_HOST）。"))
    if Channel.WECOM not in configured:
        notes.append(_("企业微信通知未开启：管理员需添加班组或部门的群机器人。"))
    return notes
