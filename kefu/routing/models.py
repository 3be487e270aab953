"""Queues: where contacts wait for an agent — a PBX's hotline, a chat queue — with the service-level target its
figures are measured against."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.routing.choices import QueueKind, ServiceLevelFormula


class Queue(models.Model):
    """A waiting queue, known to the PBX and the API by its `code` (stable, lower-case)."""

    code = models.CharField(_("队列代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=10, choices=QueueKind.choices, default=QueueKind.PHONE)
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="queues",
                             verbose_name=_("班组"))
    # service level X/Y: `target_percent` % answered within `target_seconds`
    target_seconds = models.PositiveIntegerField(_("服务水平目标秒数（Y）"), default=20)
    target_percent = models.PositiveSmallIntegerField(_("服务水平目标比例（X %）"), default=80)
    formula = models.PositiveSmallIntegerField(_("服务水平公式"), choices=ServiceLevelFormula.choices,
                                               default=ServiceLevelFormula.ANSWERED_ONLY)
    # abandons sooner than this are kept apart (a wrong number, a caller who changed their mind)
    short_abandon_seconds = models.PositiveIntegerField(_("短时放弃阈值（秒）"), default=5)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("队列")
        verbose_name_plural = _("队列")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code
