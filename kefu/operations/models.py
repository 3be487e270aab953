"""The heartbeat of background processes: a row per process kind, stamped periodically by the process itself and
read by /readyz. In the database, so that it works across processes and machines with or without Redis."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    name = models.CharField(_("进程"), max_length=64, primary_key=True)  # "worker"
    beat_at = models.DateTimeField(_("最近心跳"))
    host = models.CharField(_("主机"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("进程号"), null=True, blank=True)

    class Meta:
        verbose_name = _("心跳")
        verbose_name_plural = _("心跳")

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
