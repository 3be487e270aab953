"""Outgoing webhooks: endpoints other systems register, and the log of every delivery attempt."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.core.models import TimeStampedModel


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(TimeStampedModel):
    name = models.CharField(_("名称"), max_length=100)
    url = models.URLField(_("地址"), max_length=500)
    secret = models.CharField(_("签名密钥"), max_length=128, default=new_secret)
    # Event names such as "ticket.created"; an empty list subscribes to every event.
    events = models.JSONField(_("订阅事件"), default=list, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("Webhook")
        verbose_name_plural = _("Webhook")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("待发送")
        DELIVERED = "delivered", _("已送达")
        RETRYING = "retrying", _("重试中")
        GAVE_UP = "gave_up", _("已放弃")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("Webhook")
    )
    event_id = models.UUIDField(_("事件编号"), default=uuid.uuid4, editable=False)
    event = models.CharField(_("事件"), max_length=60, db_index=True)
    payload = models.JSONField(_("内容"))
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), null=True, blank=True, db_index=True)
    last_status_code = models.PositiveSmallIntegerField(_("最近响应码"), null=True, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("Webhook 投递")
        verbose_name_plural = _("Webhook 投递")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_event_unique")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.state})"
