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


class AgentStateKind(models.TextChoices):
    """What an agent is doing: the source of occupancy, utilisation and adherence. The not-ready states are the
    reason codes."""

    AVAILABLE = "available", _("空闲")
    ON_CONTACT = "on_contact", _("通话/会话中")
    AFTER_CONTACT = "after_contact", _("话后处理")
    BREAK = "break", _("小休")
    MEAL = "meal", _("用餐")
    TRAINING = "training", _("培训")
    MEETING = "meeting", _("会议")
    MISSED = "missed", _("未应答")  # let an offer ring out: routing offers nothing more until the agent is back
    OFFLINE = "offline", _("离线")


class StateSource(models.TextChoices):
    AGENT = "agent", _("本人")
    SUPERVISOR = "supervisor", _("主管")
    ROUTING = "routing", _("路由")
    PBX = "pbx", _("电话系统")
    SYSTEM = "system", _("系统")


class RoutingStrategy(models.TextChoices):
    """Which of the free, skilled agents gets the next contact."""

    LONGEST_IDLE = "longest_idle", _("最长空闲优先")
    LEAST_OCCUPIED = "least_occupied", _("最少占用优先")
    PROFICIENCY = "proficiency", _("技能熟练度优先")


class Affinity(models.TextChoices):
    """Whom a returning customer's contact waits for first (for the queue's affinity seconds)."""

    NONE = "none", _("不指定")
    LAST_AGENT = "last_agent", _("上次接待的坐席")
    DEDICATED = "dedicated", _("专属坐席")


class ContactState(models.TextChoices):
    WAITING = "waiting", _("排队中")
    OFFERED = "offered", _("分配中")
    ASSIGNED = "assigned", _("接待中")
    FINISHED = "finished", _("已完成")
    ABANDONED = "abandoned", _("已放弃")


OPEN_CONTACT_STATES = (ContactState.WAITING, ContactState.OFFERED, ContactState.ASSIGNED)


class OfferOutcome(models.TextChoices):
    OPEN = "", _("等待应答")
    ACCEPTED = "accepted", _("已接受")
    DECLINED = "declined", _("已拒绝")
    TIMEOUT = "timeout", _("超时未应答")
    WITHDRAWN = "withdrawn", _("已撤回")
