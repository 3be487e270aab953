from django.db import models
from django.utils.translation import gettext_lazy as _


class ClockState(models.TextChoices):
    RUNNING = "running", _("计时中")
    PAUSED = "paused", _("已暂停")
    MET = "met", _("已达成")
    BREACHED = "breached", _("已超时")
    CANCELLED = "cancelled", _("已取消")


class Standing(models.TextChoices):
    """The overall standing of an object's clocks (a work order keeps it for list filters and counters)."""

    NONE = "none", _("无时限")
    OK = "ok", _("正常")
    WARNING = "warning", _("即将超时")
    BREACHED = "breached", _("已超时")


OPEN_STATES = (ClockState.RUNNING, ClockState.PAUSED, ClockState.BREACHED)
