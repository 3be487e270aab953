"""Notifications: what a person is told (in the app, and by e-mail, SMS or a 企业微信 group robot), their
preferences, and the log of every delivery outside the app."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.notifications.choices import Channel, DeliveryState

USER = settings.AUTH_USER_MODEL


class Notification(models.Model):
    """One notice to one person. Its text is stored as a kind and parameters and worded when shown, in the
    reader's language. `event_id` is the outbox event it comes from: one notice per person and event."""

    recipient = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notifications",
                                  verbose_name=_("接收人"))
    kind = models.CharField(_("类型"), max_length=64)
    event_id = models.BigIntegerField(_("事件"))
    params = models.JSONField(_("参数"), default=dict, blank=True)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["recipient", "event_id", "kind"],
                                               name="notification_once_per_event")]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"]),
                   models.Index(fields=["recipient", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class Preference(models.Model):
    """A person's choice for one kind of notice on one channel (missing rows take the defaults)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notification_preferences",
                             verbose_name=_("用户"))
    kind = models.CharField(_("类型"), max_length=64)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    enabled = models.BooleanField(_("开启"), default=True)

    class Meta:
        verbose_name = _("通知偏好")
        verbose_name_plural = _("通知偏好")
        constraints = [models.UniqueConstraint(fields=["user", "kind", "channel"], name="preference_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.channel} {'on' if self.enabled else 'off'}"


class Delivery(models.Model):
    """A notice sent outside the app: claimed, sent, retried with backoff, given up — like webhooks."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries",
                                     verbose_name=_("通知"))
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING,
                             db_index=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), null=True, blank=True, db_index=True)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("通知发送")
        verbose_name_plural = _("通知发送")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["notification", "channel"], name="delivery_once_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} {self.state}"


class WecomRobot(models.Model):
    """A 企业微信 group robot: notices for the people of its team or department are posted to that group,
    @-mentioning the person by mobile number."""

    name = models.CharField(_("名称"), max_length=100)
    url = models.URLField(_("机器人地址"), max_length=500)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, null=True, blank=True,
                             related_name="+", verbose_name=_("班组"))
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="+", verbose_name=_("部门"))
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("企业微信群机器人")
        verbose_name_plural = _("企业微信群机器人")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
