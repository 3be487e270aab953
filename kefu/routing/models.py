"""Queues: where contacts wait for an agent — a PBX's hotline, a chat queue — with the service-level target its
figures are measured against, and their interval statistics; agents' states and their history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.routing.choices import AgentStateKind, QueueKind, ServiceLevelFormula, StateSource


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


class IntervalStat(models.Model):
    """One queue's contacts in one 15-minute interval (the finest that planning reads; 30 and 60 minutes are sums
    of them), counted in the interval they were offered in, by the time the PBX gave. Rewritten from the contacts
    themselves each time one of them ends, or changes after ending (a late event): counts never drift.

    `abandoned` leaves out the short abandons (sooner than the queue's threshold), counted in `short_abandoned`;
    `offered` holds every contact. Seconds are totals over the interval's contacts."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="intervals", verbose_name=_("队列"))
    start = models.DateTimeField(_("时段开始"))
    offered = models.PositiveIntegerField(_("呼入量"), default=0)
    answered = models.PositiveIntegerField(_("接通量"), default=0)
    abandoned = models.PositiveIntegerField(_("放弃量"), default=0)
    short_abandoned = models.PositiveIntegerField(_("短时放弃量"), default=0)
    voicemail = models.PositiveIntegerField(_("语音留言"), default=0)
    answered_within_target = models.PositiveIntegerField(_("目标时间内接通"), default=0)
    abandoned_within_target = models.PositiveIntegerField(_("目标时间内放弃"), default=0)
    wait_seconds = models.FloatField(_("接通前等待总秒数"), default=0)  # of answered contacts: the ASA's numerator
    talk_seconds = models.FloatField(_("通话总秒数"), default=0)
    hold_seconds = models.FloatField(_("保持总秒数"), default=0)
    acw_seconds = models.FloatField(_("话后处理总秒数"), default=0)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("时段统计")
        verbose_name_plural = _("时段统计")
        constraints = [models.UniqueConstraint(fields=["queue", "start"], name="interval_stat_once")]
        ordering = ["queue", "start"]

    def __str__(self) -> str:
        return f"{self.queue_id}@{self.start:%Y-%m-%d %H:%M}"


class AgentState(models.Model):
    """An agent's state now (one row per agent, made at the first change). `after_contact_until`: when the
    after-contact work ends by itself."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="agent_state", verbose_name=_("坐席"))
    state = models.CharField(_("状态"), max_length=16, choices=AgentStateKind.choices,
                             default=AgentStateKind.OFFLINE)
    since = models.DateTimeField(_("开始时间"))
    source = models.CharField(_("来源"), max_length=12, choices=StateSource.choices, default=StateSource.AGENT)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    after_contact_until = models.DateTimeField(_("话后处理结束"), null=True, blank=True, db_index=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("坐席状态")
        verbose_name_plural = _("坐席状态")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.state}"


class AgentStateSpan(models.Model):
    """One stretch of time an agent spent in one state (the history: `ended_at` empty for the current one)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("坐席"))
    state = models.CharField(_("状态"), max_length=16, choices=AgentStateKind.choices)
    started_at = models.DateTimeField(_("开始时间"))
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    source = models.CharField(_("来源"), max_length=12, choices=StateSource.choices)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("设置人"))
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("坐席状态记录")
        verbose_name_plural = _("坐席状态记录")
        indexes = [models.Index(fields=["user", "started_at"]), models.Index(fields=["started_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.state}@{self.started_at:%Y-%m-%d %H:%M:%S}"
