"""Business-time clocks for any object: a work order's SLA targets, a dispatch's due time, later a chat's first
response, a callback's due date, a QA appeal deadline."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.clocks.choices import ClockState


class Clock(models.Model):
    """One target running on one object (`subject_type` is the model label, e.g. "tickets.ticket").

    Business time elapsed is `elapsed_before_pause` plus the business seconds since `resumed_at` on `calendar`
    (no calendar: the wall clock). `due_at` and `warn_at` are derived from it whenever the clock (re)starts."""

    subject_type = models.CharField(_("对象类型"), max_length=40)
    subject_id = models.BigIntegerField(_("对象编号"))
    metric = models.CharField(_("指标"), max_length=40)
    calendar = models.ForeignKey("core.BusinessCalendar", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="clocks", verbose_name=_("工作日历"))
    # What set the target, so a change of it can find its clocks: "sla_policy:12", "dispatch".
    origin = models.CharField(_("来源"), max_length=64, blank=True, db_index=True)
    target_seconds = models.PositiveIntegerField(_("时限（工作秒）"))
    warning_fraction = models.FloatField(_("预警比例"), default=0.0)  # 0: no warning
    state = models.CharField(_("状态"), max_length=10, choices=ClockState.choices, default=ClockState.RUNNING)
    started_at = models.DateTimeField(_("开始"))
    due_at = models.DateTimeField(_("到期"), null=True, blank=True)
    warn_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    paused_at = models.DateTimeField(_("暂停于"), null=True, blank=True)
    resumed_at = models.DateTimeField(_("本轮计时开始"), null=True, blank=True)
    elapsed_before_pause = models.PositiveIntegerField(default=0)
    stopped_at = models.DateTimeField(_("停止"), null=True, blank=True)
    warned_at = models.DateTimeField(_("已预警"), null=True, blank=True)
    breached_at = models.DateTimeField(_("已超时"), null=True, blank=True)

    class Meta:
        verbose_name = _("计时")
        verbose_name_plural = _("计时")
        ordering = ["subject_type", "subject_id", "id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["state", "warn_at"]),
            models.Index(fields=["state", "due_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} {self.metric} · {self.get_state_display()}"

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None and self.state in (ClockState.RUNNING, ClockState.PAUSED,
                                                          ClockState.BREACHED)
