from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.clocks.choices import ClockState


class TicketType(models.TextChoices):
    INQUIRY = "inquiry", _("咨询")
    COMPLAINT = "complaint", _("投诉")
    REPAIR = "repair", _("报修")
    SUGGESTION = "suggestion", _("建议")
    PRAISE = "praise", _("表扬")
    OTHER = "other", _("其他")


class Priority(models.TextChoices):
    LOW = "low", _("低")
    NORMAL = "normal", _("普通")
    HIGH = "high", _("高")
    URGENT = "urgent", _("紧急")


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Channel(models.TextChoices):
    PHONE = "phone", _("电话")
    CHAT = "chat", _("在线客服")
    WECHAT = "wechat", _("微信")
    EMAIL = "email", _("邮件")
    WEB = "web", _("网页表单")
    SMS = "sms", _("短信")
    WALK_IN = "walk_in", _("现场")
    API = "api", _("接口")


class Status(models.TextChoices):
    NEW = "new", _("新建")
    ASSIGNED = "assigned", _("已分配")
    IN_PROGRESS = "in_progress", _("处理中")
    WAITING_CUSTOMER = "waiting_customer", _("等待客户")
    WAITING_DEPARTMENT = "waiting_department", _("等待部门")
    RESOLVED = "resolved", _("已解决")
    CLOSED = "closed", _("已关闭")
    REOPENED = "reopened", _("已重开")


OPEN_STATUSES = frozenset(
    {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT,
     Status.REOPENED}
)


class MessageKind(models.TextChoices):
    REPLY = "reply", _("回复客户")
    NOTE = "note", _("内部备注")
    CUSTOMER = "customer", _("客户来信")


class EventKind(models.TextChoices):
    CREATED = "created", _("创建")
    ASSIGNED = "assigned", _("分配")
    HANDOVER = "handover", _("交接")
    STATUS = "status", _("状态变更")
    REPLIED = "replied", _("回复")
    NOTED = "noted", _("备注")
    CUSTOMER_MESSAGE = "customer_message", _("客户来信")
    EDITED = "edited", _("修改")
    DISPATCHED = "dispatched", _("派单")
    DISPATCH_ACKNOWLEDGED = "dispatch_acknowledged", _("部门已接单")
    DISPATCH_COMPLETED = "dispatch_completed", _("部门已完成")
    ESCALATED = "escalated", _("升级")
    SLA_WARNING = "sla_warning", _("SLA 预警")
    SLA_BREACHED = "sla_breached", _("SLA 超时")
    DISPATCH_OVERDUE = "dispatch_overdue", _("派单超时")
    ATTACHMENT = "attachment", _("附件")


class DispatchStatus(models.TextChoices):
    PENDING = "pending", _("待接单")
    ACKNOWLEDGED = "acknowledged", _("已接单")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已撤回")


class SlaMetric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("首次响应")
    NEXT_RESPONSE = "next_response", _("再次响应")
    ONSITE = "onsite", _("上门/到场")
    RESOLUTION = "resolution", _("解决")


SlaClockState = ClockState  # a work order's SLA targets are clocks of the clock engine


class SlaStanding(models.TextChoices):
    """The work order's overall SLA standing, kept on the order for list filters and counters."""

    NONE = "none", _("无")
    OK = "ok", _("正常")
    WARNING = "warning", _("即将超时")
    BREACHED = "breached", _("已超时")
