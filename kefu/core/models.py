"""Base models and cross-cutting records: audit log, business calendars, idempotency keys."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _

_CHOICE_LABELS: dict[int, dict[Any, Any]] = {}


def _choice_labels(field: models.Field[Any, Any]) -> dict[Any, Any]:
    labels = _CHOICE_LABELS.get(id(field))
    if labels is None:
        labels = _CHOICE_LABELS[id(field)] = dict(field.flatchoices)
    return labels


class TimeStampedModel(models.Model):
    """Base of the product's models: creation and update times, and a cheap `get_<field>_display`.

    Django's own display lookup rebuilds a hashable copy of the choices on every call, translating each lazy
    label to hash it; a list of 50 orders with five choice columns paid ~35,000 translations for it. Here the
    value → label table is built once per field and only the label shown is translated."""

    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field: models.Field[Any, Any]) -> Any:
        value = getattr(self, field.attname)
        try:
            label = _choice_labels(field).get(value, value)
        except TypeError:  # an unhashable value: Django's own lookup copes
            return super()._get_FIELD_display(field)  # type: ignore[misc]
        return force_str(label, strings_only=True)


class AuditLog(models.Model):
    """Who did or saw what, when. Written by the service that makes the change (or the selector that reveals
    personal data), never by signals."""

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("操作人"))
    action = models.CharField(_("动作"), max_length=64, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=64)
    object_id = models.CharField(_("对象编号"), max_length=64)
    summary = models.CharField(_("摘要"), max_length=300, blank=True)
    data = models.JSONField(_("数据"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-created_at", "-id"]
        # The audit viewer's filters, each read newest first (kefu.core.audit_log); its text search uses a
        # trigram index on the summary on PostgreSQL (migration 0004).
        indexes = [models.Index(fields=["object_type", "object_id", "-created_at"]),
                   models.Index(fields=["actor", "-created_at", "-id"], name="core_audit_actor_time"),
                   models.Index(fields=["action", "-created_at", "-id"], name="core_audit_action_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"


def _validate_week(value: Any) -> None:
    from kefu.core.calendars import parse_week

    try:
        parse_week(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class BusinessCalendar(TimeStampedModel):
    """Working hours per weekday plus dated exceptions (public holidays, 调休 working weekends)."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    time_zone = models.CharField(_("时区"), max_length=64, default="Asia/Shanghai")
    always_open = models.BooleanField(_("7×24 小时"), default=False)
    # Seven lists (Monday first) of ["HH:MM", "HH:MM"] periods, e.g. [["09:00", "12:00"], ["13:30", "18:00"]].
    week = models.JSONField(_("每周工作时间"), default=list, validators=[_validate_week])
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CalendarDay(models.Model):
    """A dated exception: a public holiday (closed) or a 调休 working day (open with the given hours)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("节假日（休息）")
        WORKDAY = "workday", _("调休上班")

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="days",
                                 verbose_name=_("日历"))
    date = models.DateField(_("日期"))
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("名称"), max_length=100, blank=True)
    # For a working day: its periods; empty means the calendar's usual weekday hours (first open weekday).
    periods = models.JSONField(_("工作时段"), default=list, blank=True)

    class Meta:
        verbose_name = _("节假日与调休")
        verbose_name_plural = _("节假日与调休")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"

    # Saving or deleting a day stamps its calendar's `updated_at`, the version under which the SLA engine
    # caches the calendar (kefu.tickets.sla.spec_from_model). Bulk queryset writes skip this: after one, save
    # the calendar itself.
    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        _touch_calendar(self.calendar_id)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        result = super().delete(*args, **kwargs)
        _touch_calendar(self.calendar_id)
        return result


def _touch_calendar(calendar_id: int) -> None:
    from django.utils import timezone

    BusinessCalendar.objects.filter(pk=calendar_id).update(updated_at=timezone.now())


class IdempotencyRecord(models.Model):
    """A create request's response, kept so that a retry with the same Idempotency-Key gets the same answer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("幂等请求")
        verbose_name_plural = _("幂等请求")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class OutboxEvent(models.Model):
    """A change announced by a service, written in the service's own transaction (the outbox).

    The relay (kefu.core.relay) hands each event, after commit, to every consumer: live pages, webhooks,
    notifications, escalation. Consumers record how far they got (ConsumerCursor), so a crash replays events
    and never loses one; handling an event twice changes nothing."""

    uid = models.UUIDField(_("事件编号"), default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(_("事件类型"), max_length=64, db_index=True)
    version = models.PositiveSmallIntegerField(_("版本"), default=1)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    payload = models.JSONField(_("内容"), default=dict)
    # Group names of the audience: "user.7", "team.3", "department.2", "queue.hotline", "role.manager".
    audience = models.JSONField(_("受众"), default=list)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("操作人"))
    actor_system = models.CharField(_("系统操作者"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.object_type}:{self.object_id}"


class ConsumerCursor(models.Model):
    """How far one consumer of the outbox has got: every event with id ≤ `last_id` is handled, except the
    ids in `gaps` (allocated but not yet committed when the consumer passed them; on PostgreSQL transactions
    may commit out of id order). `failures` counts failed attempts per event id; `skipped` lists events given
    up after too many failures (logged as errors, shown to operators)."""

    name = models.CharField(_("消费者"), max_length=64, primary_key=True)
    last_id = models.BigIntegerField(_("已处理到"), default=0)
    gaps = models.JSONField(default=dict, blank=True)  # {"<id>": "<first seen, ISO time>"}
    failures = models.JSONField(default=dict, blank=True)  # {"<id>": attempts}
    skipped = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("事件消费进度")
        verbose_name_plural = _("事件消费进度")

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"


class RateCounter(models.Model):
    """One window's count of one rate-limited key (kefu.core.ratelimit), when no Redis is configured."""

    key = models.CharField(max_length=100)  # the limit's name and a hash of the key
    window = models.BigIntegerField()  # the window's number since the epoch, in the limit's period
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("限流计数")
        verbose_name_plural = _("限流计数")
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="rate_counter_key_window")]

    def __str__(self) -> str:
        return f"{self.key} #{self.window}: {self.count}"
