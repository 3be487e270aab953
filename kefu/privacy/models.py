"""Personal-data protection (个人信息保护): erasure requests with a second person's approval, the markers of work
orders and conversations whose personal text was removed, and the retention rule of each kind of data."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.core.models import TimeStampedModel
from kefu.privacy.choices import AskedBy, ErasureStatus, ScrubCause

USER = settings.AUTH_USER_MODEL


class ErasureRequest(TimeStampedModel):
    """A request to erase a customer's personal data by anonymisation. Runs only once a second person with the
    right approves it before `expires_at`; a rejected or expired request does nothing."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="erasure_requests",
                                 verbose_name=_("客户"))
    asked_by = models.CharField(_("提出方"), max_length=16, choices=AskedBy.choices)
    reason = models.TextField(_("原因"))
    status = models.CharField(_("状态"), max_length=10, choices=ErasureStatus.choices,
                              default=ErasureStatus.PENDING, db_index=True)
    requested_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+",
                                     verbose_name=_("申请人"))
    expires_at = models.DateTimeField(_("审批截止"))
    decided_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   verbose_name=_("审批人"))
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_note = models.CharField(_("审批意见"), max_length=500, blank=True)
    executed_at = models.DateTimeField(_("执行时间"), null=True, blank=True)
    result = models.JSONField(_("执行结果"), default=dict, blank=True)  # counts of what was anonymised

    class Meta:
        verbose_name = _("删除申请")
        verbose_name_plural = _("删除申请")
        ordering = ["-created_at", "-id"]
        constraints = [
            # at most one request waiting per customer
            models.UniqueConstraint(fields=["customer"], condition=models.Q(status="pending"),
                                    name="erasure_one_pending_per_customer"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_id} {self.status}"


class TicketScrub(models.Model):
    """A work order whose personal free text was anonymised (by an erasure or a retention rule): what makes both
    idempotent and lets the retention preview count what is still to do."""

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, primary_key=True, related_name="+",
                                  verbose_name=_("工单"))
    cause = models.CharField(_("原因"), max_length=10, choices=ScrubCause.choices)
    at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("已匿名化工单")
        verbose_name_plural = _("已匿名化工单")

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.cause}"


class ConversationScrub(models.Model):
    """A conversation whose words and files were removed (by an erasure or a retention rule), and when: a
    conversation continued later and closed again is due again for what it gained since."""

    conversation = models.OneToOneField("conversations.Conversation", on_delete=models.CASCADE, primary_key=True,
                                        related_name="+", verbose_name=_("会话"))
    cause = models.CharField(_("原因"), max_length=10, choices=ScrubCause.choices)
    at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("已匿名化会话")
        verbose_name_plural = _("已匿名化会话")

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.cause}"


class RetentionRule(models.Model):
    """How long one kind of data is kept (a key of kefu.privacy.retention.KINDS). A kind without a row is off."""

    kind = models.CharField(_("数据类型"), max_length=40, unique=True)
    enabled = models.BooleanField(_("启用"), default=False)
    keep_days = models.PositiveIntegerField(_("保存天数"))
    version = models.PositiveIntegerField(_("版本"), default=1)
    updated_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   verbose_name=_("修改人"))
    updated_at = models.DateTimeField(_("修改时间"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("上次执行"), null=True, blank=True)
    last_run_count = models.PositiveIntegerField(_("上次处理条数"), default=0)

    class Meta:
        verbose_name = _("保存期限")
        verbose_name_plural = _("保存期限")
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.kind} {self.keep_days}d {'on' if self.enabled else 'off'}"
