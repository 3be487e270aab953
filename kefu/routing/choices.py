"""Choices of queues: what a queue carries, and which service-level formula its figures use (PRODUCT §2.9)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class QueueKind(models.TextChoices):
    PHONE = "phone", _("电话")
    CHAT = "chat", _("在线会话")
    TICKET = "ticket", _("工单")


class ServiceLevelFormula(models.IntegerChoices):
    """How "answered within Y seconds" becomes a share; a centre picks one and every figure says which."""

    WITH_SHORT_ABANDONS = 1, _("(Y 秒内接通 + Y 秒内放弃) / (接通 + 放弃)")
    ANSWERED_ONLY = 2, _("Y 秒内接通 / 接通")
    ALL_OFFERED = 3, _("Y 秒内接通 / (接通 + 放弃)")
    LATE_ABANDONS = 4, _("Y 秒内接通 / (接通 + Y 秒后放弃)")
