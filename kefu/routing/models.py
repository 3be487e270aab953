"""Queues: where contacts wait for an agent — a PBX's hotline, a chat queue — with the service-level target its
figures are measured against, and their interval statistics; agents' states and their history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.routing.choices import (
    Affinity,
    AgentStateKind,
    ContactState,
    OfferOutcome,
    QueueKind,
    RoutingStrategy,
    ServiceLevelFormula,
    StateSource,
)


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
    # routing (ACD): Kefu offers the queue's contacts to agents; off, the PBX or the agents themselves pick them
    routed = models.BooleanField(_("由客服系统分配"), default=False)
    strategy = models.CharField(_("分配策略"), max_length=16, choices=RoutingStrategy.choices,
                                default=RoutingStrategy.LONGEST_IDLE)
    offer_seconds = models.PositiveIntegerField(_("振铃/提醒秒数"), default=20)
    affinity = models.CharField(_("坐席偏好"), max_length=12, choices=Affinity.choices, default=Affinity.NONE)
    affinity_seconds = models.PositiveIntegerField(_("偏好等待秒数"), default=30)
    overflow_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    verbose_name=_("溢出到队列"))
    overflow_after_seconds = models.PositiveIntegerField(_("等待多少秒后溢出"), null=True, blank=True)
    vip_priority = models.PositiveSmallIntegerField(_("VIP 优先级加分"), default=10)
    complaint_priority = models.PositiveSmallIntegerField(_("投诉优先级加分"), default=5)
    long_wait_seconds = models.PositiveIntegerField(_("长时等待秒数"), null=True, blank=True)
    long_wait_priority = models.PositiveSmallIntegerField(_("长时等待优先级加分"), default=5)
    callback_allowed = models.BooleanField(_("允许预约回拨"), default=True)
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
    # kept by routing, in the transaction that changes them: when the agent last became free (longest idle
    # first), and the chats in hand against the agent's capacity
    idle_since = models.DateTimeField(_("空闲开始"), null=True, blank=True)
    chats = models.PositiveSmallIntegerField(_("进行中的会话"), default=0)
    chat_capacity = models.PositiveSmallIntegerField(_("同时接待会话上限"), default=3)

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


class QueueSkill(models.Model):
    """A skill a queue's contacts need: an agent gets them only with every one of the queue's skills, each at
    least at its proficiency."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="skills", verbose_name=_("队列"))
    skill = models.ForeignKey("accounts.Skill", on_delete=models.CASCADE, related_name="+", verbose_name=_("技能"))
    min_proficiency = models.PositiveSmallIntegerField(_("最低熟练度"), default=1)

    class Meta:
        verbose_name = _("队列技能要求")
        verbose_name_plural = _("队列技能要求")
        constraints = [models.UniqueConstraint(fields=["queue", "skill"], name="queue_skill_once")]

    def __str__(self) -> str:
        return f"{self.queue_id}:{self.skill_id}>={self.min_proficiency}"


class RoutedContact(models.Model):
    """A contact (a call, a chat, a work order) routed through a queue: waiting, offered to one agent, assigned,
    then finished or abandoned. Its place in line is (priority, enqueued_at): an overflow to another queue or a
    callback request keeps it. `ref` names the contact in its own app ("call:…", "conversation:…")."""

    ref = models.CharField(_("联络"), max_length=120)
    kind = models.CharField(_("类型"), max_length=10, choices=QueueKind.choices)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("队列"))
    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("客户"))
    state = models.CharField(_("状态"), max_length=10, choices=ContactState.choices, default=ContactState.WAITING)
    priority = models.IntegerField(_("优先级"), default=0)
    is_vip = models.BooleanField(_("VIP"), default=False)
    is_complaint = models.BooleanField(_("投诉"), default=False)
    long_wait_boosted = models.BooleanField(_("已按长时等待加分"), default=False)
    enqueued_at = models.DateTimeField(_("进入排队"))
    queue_entered_at = models.DateTimeField(_("进入当前队列"))
    overflowed_from = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                        verbose_name=_("溢出自"))
    preferred_agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="+", verbose_name=_("偏好坐席"))
    preferred_until = models.DateTimeField(_("偏好截止"), null=True, blank=True)
    callback_number = models.CharField(_("回拨号码"), max_length=40, blank=True)
    callback_requested_at = models.DateTimeField(_("预约回拨时间"), null=True, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("接待坐席"))
    assigned_at = models.DateTimeField(_("接入时间"), null=True, blank=True)
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    offers = models.PositiveSmallIntegerField(_("分配次数"), default=0)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("排队联络")
        verbose_name_plural = _("排队联络")
        constraints = [
            # one open routing per contact: enqueueing the same call twice (a retry) is one place in line
            models.UniqueConstraint(fields=["ref"], condition=Q(state__in=["waiting", "offered", "assigned"]),
                                    name="routed_contact_open_once"),
        ]
        indexes = [models.Index(fields=["state", "queue", "-priority", "enqueued_at"]),
                   models.Index(fields=["queue", "enqueued_at"]), models.Index(fields=["ref"]),
                   # the line itself, in dispatch order: only the waiting contacts, however long the history
                   models.Index(fields=["-priority", "enqueued_at", "id"], condition=Q(state="waiting"),
                                name="routed_contact_line")]

    def __str__(self) -> str:
        return self.ref


class Offer(models.Model):
    """A contact offered to one agent, until accepted, declined, timed out or withdrawn. The database holds the
    rules: at most one open offer per contact (never two agents) and per agent."""

    contact = models.ForeignKey(RoutedContact, on_delete=models.CASCADE, related_name="offer_set",
                                verbose_name=_("排队联络"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("坐席"))
    offered_at = models.DateTimeField(_("分配时间"))
    expires_at = models.DateTimeField(_("应答截止"))
    outcome = models.CharField(_("结果"), max_length=10, choices=OfferOutcome.choices, blank=True, default="")
    decided_at = models.DateTimeField(_("应答时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("分配")
        verbose_name_plural = _("分配")
        constraints = [
            models.UniqueConstraint(fields=["contact"], condition=Q(outcome=""), name="offer_open_per_contact"),
            models.UniqueConstraint(fields=["agent"], condition=Q(outcome=""), name="offer_open_per_agent"),
        ]
        indexes = [models.Index(fields=["outcome", "expires_at"]), models.Index(fields=["contact", "agent"])]

    def __str__(self) -> str:
        return f"{self.contact_id}->{self.agent_id}:{self.outcome or 'open'}"
