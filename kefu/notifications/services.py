"""Writes of the notifications app: notify people (in the app, and queue the deliveries outside it), send a
delivery (claimed atomically, retried with backoff, given up), mark read, preferences, the group robots."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.events import Audience, emit_many
from kefu.core.policy import has_right
from kefu.notifications.adapters.base import Rendered
from kefu.notifications.adapters.registry import ADAPTERS, configured_channels
from kefu.notifications.choices import EXTERNAL, Channel, DeliveryState
from kefu.notifications.events import NOTIFICATION_CREATED
from kefu.notifications.kinds import KINDS, title_of
from kefu.notifications.models import Delivery, Notification, Preference, WecomRobot
from kefu.notifications.permissions import NotificationRight
from kefu.notifications.selectors import forget_unread

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (60, 300, 1800, 3600, 4 * 3600)
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.RETRYING)


# --- who is told: preferences ----------------------------------------------------------------------------


def enabled_channels(user_id: int, kind: str, stored: dict[tuple[str, str], bool] | None = None) -> set[str]:
    """The channels a person gets `kind` on: their stored choices, else the kind's defaults. In-app is always
    on (the notification centre is the record of what one was told)."""
    found = KINDS.get(kind)
    if found is None:
        return set()
    if stored is None:
        stored = {(p.kind, p.channel): p.enabled for p in Preference.objects.filter(user_id=user_id, kind=kind)}
    channels = {Channel.IN_APP.value}
    for channel in EXTERNAL:  # by value: an enum member hashes by its name, not its value
        if stored.get((kind, channel.value), channel in found.defaults):
            channels.add(channel.value)
    return channels


@dataclass(frozen=True)
class PreferenceChange:
    kind: str
    channel: str
    enabled: bool


@transaction.atomic
def preferences_set(*, actor: Any, changes: list[PreferenceChange]) -> None:
    """Set the actor's own choices (all or nothing; unknown kinds or channels are refused, naming them)."""
    if not has_right(actor, NotificationRight.OWN):
        raise PermissionDenied(_("您没有权限修改通知偏好"))
    for change in changes:
        if change.kind not in KINDS:
            raise ValidationFailed(_("未知的通知类型“%(k)s”") % {"k": change.kind}, details={"field": "kind"})
        if change.channel not in Channel.values or change.channel == Channel.IN_APP:
            raise ValidationFailed(_("不能设置的通知渠道“%(c)s”") % {"c": change.channel},
                                   details={"field": "channel"})
    for change in changes:
        Preference.objects.update_or_create(user=actor, kind=change.kind, channel=change.channel,
                                            defaults={"enabled": bool(change.enabled)})


# --- notifying -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    recipient: Any  # a User
    kind: str
    params: dict[str, Any]
    link: str = ""
    object_type: str = ""
    object_id: str = ""


def notify(*, notices: list[Notice], event_id: int) -> list[Notification]:
    """Record the notices of one event (once per person: a replayed event adds nothing), with a delivery row
    for every outside channel the person wants and Kefu can use, and tell each person's open pages. Runs in the
    caller's transaction (the outbox consumer's); the deliveries are sent after commit."""
    if not notices:
        return []
    configured = set(configured_channels())
    recipients = {n.recipient.pk: n.recipient for n in notices}
    kinds = {n.kind for n in notices}
    stored = {(p.user_id, p.kind, p.channel): p.enabled for p in Preference.objects.filter(
        user_id__in=recipients, kind__in=kinds)}
    already = set(Notification.objects.filter(event_id=event_id, recipient_id__in=recipients, kind__in=kinds)
                  .values_list("recipient_id", "kind"))
    fresh: list[Notice] = []
    for notice in notices:
        key = (notice.recipient.pk, notice.kind)
        if key not in already:
            already.add(key)
            fresh.append(notice)
    if not fresh:
        return []
    made = Notification.objects.bulk_create([
        Notification(recipient=n.recipient, event_id=event_id, kind=n.kind, params=n.params, link=n.link,
                     object_type=n.object_type, object_id=str(n.object_id)) for n in fresh])
    deliveries: list[Delivery] = []
    for notice, notification in zip(fresh, made, strict=True):
        mine = {(k, c): v for (u, k, c), v in stored.items() if u == notice.recipient.pk}
        for channel in sorted(enabled_channels(notice.recipient.pk, notice.kind, mine) & configured):
            address = ADAPTERS[channel].address_for(notice.recipient)
            deliveries.append(Delivery(
                notification=notification, channel=channel, address=address[:300],
                state=DeliveryState.PENDING if address else DeliveryState.SKIPPED,
                next_attempt_at=timezone.now() if address else None,
                last_error="" if address else "no address"))
    _announce(made)
    if deliveries:
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    forget_unread(n.recipient_id for n in made)
    pending = [d.notification_id for d in deliveries if d.state == DeliveryState.PENDING]
    if pending:
        _send_after_commit(list(Delivery.objects.filter(notification_id__in=pending, state=DeliveryState.PENDING)
                                .values_list("pk", flat=True)))
    return made


def _announce(made: list[Notification]) -> None:
    """Tell each recipient's open pages (the bell's count and a toast), one outbox insert for all."""
    unread = dict(Notification.objects.filter(recipient_id__in={n.recipient_id for n in made}, read_at__isnull=True)
                  .values("recipient_id").annotate(n=Count("id")).values_list("recipient_id", "n"))
    emit_many(NOTIFICATION_CREATED, [
        ({"id": n.pk, "kind": n.kind, "link": n.link, "unread": unread.get(n.recipient_id, 0),
          "title": title_of(n.kind, n.params, _language(n.recipient))}, [Audience.user(n.recipient_id)], n)
        for n in made])


def _language(user: Any) -> str:
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _send_after_commit(ids: list[int]) -> None:
    def queue() -> None:
        from kefu.notifications.tasks import notification_deliver_task

        for delivery_id in ids:
            notification_deliver_task(delivery_id)

    transaction.on_commit(queue, robust=True)


# --- sending outside the app ----------------------------------------------------------------------------


def render(notification: Notification, language: str) -> Rendered:
    """The notice as e-mail, SMS and robot texts carry it, in `language`, with an absolute link."""
    from django.utils.html import escape

    link = f"{settings.KEFU_BASE_URL.rstrip('/')}{notification.link}" if notification.link else ""
    with translation.override(language):
        title = title_of(notification.kind, notification.params)
        footer = _("—— Kefu 客服系统通知，可在“通知设置”中关闭此类通知")
        subject = f"[Kefu] {title}"
    text = "\n\n".join(p for p in (title, link, footer) if p)
    html = (f"<p>{escape(title)}</p>" + (f'<p><a href="{escape(link)}">{escape(link)}</a></p>' if link else "")
            + f'<p style="color:#888">{escape(footer)}</p>')
    return Rendered(subject=subject, text=text, html=html, link=link)


def backoff_seconds(failed_attempts: int, rng: random.Random | None = None) -> float:
    base = BACKOFF_SECONDS[min(max(failed_attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return base * (rng or random).uniform(0.8, 1.2)


def _claim(delivery_id: int, now: datetime) -> bool:
    with transaction.atomic():
        return Delivery.objects.filter(pk=delivery_id, state__in=OPEN_STATES, next_attempt_at__lte=now).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1) == 1


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """One attempt at sending a delivery; None when it was not due or another worker has it."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = Delivery.objects.select_related("notification__recipient").get(pk=delivery_id)
    recipient = delivery.notification.recipient
    adapter = ADAPTERS.get(delivery.channel)
    if adapter is None or not recipient.is_active:
        result_ok, error, permanent = False, "channel removed" if adapter is None else "recipient inactive", True
    else:
        try:
            result = adapter.send(address=delivery.address, user=recipient,
                                  rendered=render(delivery.notification, _language(recipient)))
            result_ok, error, permanent = result.ok, result.error, result.permanent
        except Exception as exc:  # an adapter bug must not stop the worker: record it and retry
            log.exception("notification delivery %s failed", delivery_id)
            result_ok, error, permanent = False, f"{type(exc).__name__}: {exc}", False
    fields: dict[str, Any] = {"last_error": error[:500]}
    if result_ok:
        fields.update(state=DeliveryState.SENT, sent_at=timezone.now(), next_attempt_at=None, last_error="")
    elif permanent or delivery.attempts >= MAX_ATTEMPTS:
        fields.update(state=DeliveryState.FAILED, next_attempt_at=None)
    else:
        fields.update(state=DeliveryState.RETRYING,
                      next_attempt_at=now + timedelta(seconds=backoff_seconds(delivery.attempts)))
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(**fields)
    delivery.refresh_from_db()
    return delivery


def deliveries_retry_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Attempt every delivery that is due (periodic task) → attempts made here."""
    now = now or timezone.now()
    due = list(Delivery.objects.filter(state__in=OPEN_STATES, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in due if delivery_attempt(delivery_id=pk, now=now) is not None)


# --- reading ---------------------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, actor: Any, notification_id: int) -> Notification:
    notification = Notification.objects.filter(pk=notification_id, recipient_id=actor.pk).first()
    if notification is None:
        raise NotFound(_("通知不存在"), details={"notification_id": notification_id})
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        forget_unread([actor.pk])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, actor: Any) -> int:
    forget_unread([actor.pk])
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(read_at=timezone.now())


# --- group robots (administrators) -----------------------------------------------------------------------


@dataclass(frozen=True)
class RobotData:
    name: str
    url: str
    team: Any = None
    department: Any = None
    is_active: bool = True


def _clean_robot(data: RobotData) -> dict[str, Any]:
    from kefu.integrations.transport import BlockedAddress, check_url

    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("名称不能为空，且不超过 100 个字符"), details={"field": "name"})
    url = (data.url or "").strip()
    if not url.startswith("https://") or len(url) > 500:
        raise ValidationFailed(_("机器人地址必须是 https:// 开头的 Webhook 地址"), details={"field": "url"})
    try:
        check_url(url, resolve=False)
    except BlockedAddress:
        raise ValidationFailed(_("Kefu 不会调用这个地址（如云主机元数据服务、组播或保留地址）"),
                               details={"field": "url"}) from None
    if (data.team is None) == (data.department is None):
        raise ValidationFailed(_("请选择一个班组或一个部门（二选一）"), details={"field": "team"})
    return {"name": name, "url": url, "team": data.team, "department": data.department,
            "is_active": bool(data.is_active)}


def _require_channels(actor: Any) -> None:
    if not has_right(actor, NotificationRight.CHANNELS_MANAGE):
        raise PermissionDenied(_("只有系统管理员可以设置通知渠道"))


@transaction.atomic
def robot_create(*, actor: Any, data: RobotData) -> WecomRobot:
    _require_channels(actor)
    robot = WecomRobot.objects.create(**_clean_robot(data))
    audit_record(actor=actor, action="wecom_robot.created", obj=robot, summary=robot.name)
    return robot


@transaction.atomic
def robot_update(*, actor: Any, robot: WecomRobot, data: RobotData, expected_version: int | None) -> WecomRobot:
    _require_channels(actor)
    locked = WecomRobot.objects.select_for_update().filter(pk=robot.pk).first()
    if locked is None:
        raise NotFound(_("机器人不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    for name, value in _clean_robot(data).items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save()
    audit_record(actor=actor, action="wecom_robot.updated", obj=locked, summary=locked.name)
    return locked


@transaction.atomic
def robot_delete(*, actor: Any, robot: WecomRobot) -> None:
    _require_channels(actor)
    audit_record(actor=actor, action="wecom_robot.deleted", obj=robot, summary=robot.name)
    robot.delete()
