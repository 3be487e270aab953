"""Work orders (工单): the order, its messages, attachments, history, dispatches, SLA policies and clocks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.core.models import TimeStampedModel
from kefu.customers.choices import Tier
from kefu.tickets.choices import (
    Channel,
    DispatchStatus,
    EventKind,
    MessageKind,
    Priority,
    SlaStanding,
    Status,
    TicketType,
)

USER = settings.AUTH_USER_MODEL


class Category(TimeStampedModel):
    """A configurable category of work orders, optionally limited to one type (e.g. 报修 → 水电)."""

    name = models.CharField(_("分类名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    ticket_type = models.CharField(_("适用类型"), max_length=20, choices=TicketType.choices, blank=True)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
                               verbose_name=_("上级分类"))
    default_department = models.ForeignKey("accounts.Department", on_delete=models.SET_NULL, null=True,
                                           blank=True, related_name="+", verbose_name=_("默认派单部门"))
    default_sla_policy = models.ForeignKey("tickets.SlaPolicy", on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+", verbose_name=_("默认 SLA 策略"))
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveIntegerField(_("排序"), default=0)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("工单分类")
        verbose_name_plural = _("工单分类")
        ordering = ["sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name")]

    def __str__(self) -> str:
        return f"{self.parent} / {self.name}" if self.parent_id else self.name


class SlaPolicy(TimeStampedModel):
    """Targets for one kind of work order. The most specific active policy that matches wins (see sla.py).

    Blank matching fields match anything. Targets are business seconds on the policy's calendar.
    """

    name = models.CharField(_("策略名称"), max_length=100, unique=True)
    ticket_type = models.CharField(_("工单类型"), max_length=20, choices=TicketType.choices, blank=True)
    priority = models.CharField(_("优先级"), max_length=10, choices=Priority.choices, blank=True)
    customer_tier = models.CharField(_("客户等级"), max_length=1, choices=Tier.choices, blank=True)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices, blank=True)
    vip_only = models.BooleanField(_("仅 VIP"), default=False)
    calendar = models.ForeignKey("core.BusinessCalendar", on_delete=models.PROTECT, related_name="sla_policies",
                                 verbose_name=_("工作日历"))
    first_response_seconds = models.PositiveIntegerField(_("首次响应时限（秒）"), null=True, blank=True)
    next_response_seconds = models.PositiveIntegerField(_("再次响应时限（秒）"), null=True, blank=True)
    onsite_seconds = models.PositiveIntegerField(_("到场时限（秒）"), null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(_("解决时限（秒）"), null=True, blank=True)
    warning_fraction = models.FloatField(_("预警比例"), default=0.8,
                                         help_text=_("已用时间达到时限的该比例时预警，0 到 1 之间"))
    is_active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("SLA 策略")
        verbose_name_plural = _("SLA 策略")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TicketTypeSetting(TimeStampedModel):
    """What one of the fixed work-order types brings by default: the department work of that type usually goes
    to, and the SLA policy it gets (a category's own defaults come first)."""

    ticket_type = models.CharField(_("工单类型"), max_length=20, choices=TicketType.choices, unique=True)
    default_department = models.ForeignKey("accounts.Department", on_delete=models.SET_NULL, null=True,
                                           blank=True, related_name="+", verbose_name=_("默认派单部门"))
    default_sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+", verbose_name=_("默认 SLA 策略"))
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("工单类型设置")
        verbose_name_plural = _("工单类型设置")
        ordering = ["ticket_type"]

    def __str__(self) -> str:
        return self.get_ticket_type_display()


class Ticket(TimeStampedModel):
    number = models.CharField(_("工单号"), max_length=24, unique=True, null=True, blank=True)
    subject = models.CharField(_("标题"), max_length=200)
    description = models.TextField(_("描述"), blank=True)
    ticket_type = models.CharField(_("工单类型"), max_length=20, choices=TicketType.choices,
                                   default=TicketType.INQUIRY)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets",
                                 verbose_name=_("分类"))
    priority = models.CharField(_("优先级"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(_("来源渠道"), max_length=16, choices=Channel.choices, default=Channel.PHONE)
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.NEW)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="tickets", verbose_name=_("客户"))
    first_contact_owner = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True,
                                            related_name="owned_tickets", verbose_name=_("首问负责人"))
    assignee = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="assigned_tickets", verbose_name=_("处理人"))
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="tickets", verbose_name=_("班组"))
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   verbose_name=_("创建人"))
    escalation_level = models.PositiveSmallIntegerField(_("升级级别"), default=0,
                                                        help_text=_("0 未升级，1 组长，2 经理"))
    sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="tickets", verbose_name=_("SLA 策略"))
    sla_standing = models.CharField(_("SLA 状态"), max_length=10, choices=SlaStanding.choices,
                                    default=SlaStanding.NONE)
    sla_due_at = models.DateTimeField(_("最近到期"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("首次响应时间"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("解决时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("重开次数"), default=0)
    external_ref = models.CharField(_("外部编号"), max_length=100, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("工单")
        verbose_name_plural = _("工单")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["team", "status"]),
            models.Index(fields=["first_contact_owner", "status"]),
            models.Index(fields=["sla_standing", "sla_due_at"]),
            models.Index(fields=["ticket_type", "-created_at"]),
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["external_ref"]),  # integrations look their orders up by it; API search
        ]

    def __str__(self) -> str:
        return f"{self.number or self.pk} {self.subject}"


class TicketMessage(models.Model):
    """A reply to the customer, an internal note, or a message from the customer."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages", verbose_name=_("工单"))
    kind = models.CharField(_("类型"), max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               verbose_name=_("作者"))
    body = models.TextField(_("内容"))
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("工单消息")
        verbose_name_plural = _("工单消息")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.ticket_id}/{instance.storage_name}"


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments",
                               verbose_name=_("工单"))
    message = models.ForeignKey(TicketMessage, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="attachments")
    file = models.FileField(_("文件"), upload_to=attachment_path, max_length=300)
    storage_name = models.CharField(max_length=80)
    filename = models.CharField(_("文件名"), max_length=200)
    content_type = models.CharField(_("类型"), max_length=100)
    size = models.PositiveIntegerField(_("大小（字节）"))
    uploaded_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class TicketEvent(models.Model):
    """The work order's history: every change, who made it and when. Written by the services only."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", verbose_name=_("工单"))
    kind = models.CharField(_("事件"), max_length=32, choices=EventKind.choices)
    actor = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("操作人"))
    actor_system = models.CharField(_("系统操作者"), max_length=40, blank=True)  # a SystemActor's key
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("工单历史")
        verbose_name_plural = _("工单历史")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.created_at:%Y-%m-%d %H:%M}"


class Dispatch(models.Model):
    """A hand-off of work to another department (派单): its own due time, acknowledgement and result.

    The first-contact owner stays responsible for the order while a department works on it.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="dispatches", verbose_name=_("工单"))
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="dispatches",
                                   verbose_name=_("接单部门"))
    status = models.CharField(_("状态"), max_length=16, choices=DispatchStatus.choices,
                              default=DispatchStatus.PENDING, db_index=True)
    instructions = models.TextField(_("派单说明"), blank=True)
    dispatched_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+",
                                      verbose_name=_("派单人"))
    dispatched_at = models.DateTimeField(_("派单时间"), auto_now_add=True)
    due_at = models.DateTimeField(_("要求完成时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                        verbose_name=_("接单人"))
    acknowledged_at = models.DateTimeField(_("接单时间"), null=True, blank=True)
    completed_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                     verbose_name=_("完成人"))
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    result = models.TextField(_("处理结果"), blank=True)

    class Meta:
        verbose_name = _("派单")
        verbose_name_plural = _("派单")
        ordering = ["-dispatched_at", "-id"]
        indexes = [models.Index(fields=["department", "status"])]

    def __str__(self) -> str:
        return f"{self.department} · {self.get_status_display()}"


class SavedView(TimeStampedModel):
    """A named set of list filters an agent keeps (e.g. "my complaints due soon")."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="saved_views", verbose_name=_("所有人"))
    name = models.CharField(_("名称"), max_length=60)
    query = models.CharField(_("筛选条件"), max_length=1000)

    class Meta:
        verbose_name = _("保存的视图")
        verbose_name_plural = _("保存的视图")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_view_unique")]
