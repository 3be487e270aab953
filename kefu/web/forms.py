"""Forms of the workspace: they only parse and validate input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.accounts.forms import SignInForm
from kefu.accounts.models import Department
from kefu.core.dates import MomentField
from kefu.customers.choices import Tier
from kefu.tickets.choices import Channel, Priority, Status, TicketType

SCOPES = [("mine", _("我的工单")), ("team", _("本组工单")), ("all", _("全部工单"))]
SLA_FILTERS = [("due_soon", _("即将超时")), ("breached", _("已超时"))]
STATUS_FILTERS = [("open", _("未完结")), *Status.choices]


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


class LoginForm(SignInForm):
    username = forms.CharField(
        label=_("用户名"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("密码"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    error_messages = {
        "invalid_login": _("用户名或密码不正确"),
        "inactive": _("该账号已停用"),
    }


class TicketFilterForm(forms.Form):
    """The choices of the list's filter fields (the query string itself is parsed by
    kefu.tickets.selectors.parse_ticket_filter, like the API's)."""

    scope = forms.ChoiceField(choices=SCOPES, required=False)
    q = forms.CharField(max_length=100, required=False)
    status = forms.ChoiceField(choices=_blank(_("全部状态")) + STATUS_FILTERS, required=False)
    type = forms.ChoiceField(choices=_blank(_("全部类型")) + TicketType.choices, required=False)
    priority = forms.ChoiceField(choices=_blank(_("全部优先级")) + Priority.choices, required=False)
    channel = forms.ChoiceField(choices=_blank(_("全部渠道")) + Channel.choices, required=False)
    sla = forms.ChoiceField(choices=_blank(_("SLA 全部")) + SLA_FILTERS, required=False)
    tier = forms.ChoiceField(choices=_blank(_("全部等级")) + Tier.choices, required=False)
    assignee = forms.CharField(max_length=20, required=False)

    FILTER_FIELDS = ("q", "status", "type", "priority", "channel", "sla", "tier", "assignee")


def filter_form_values(found: Any) -> dict[str, str]:
    """A TicketFilter as the values of the list's form fields (one value per select)."""
    return {
        "scope": found.view,
        "q": found.q,
        "status": found.statuses[0] if len(found.statuses) == 1 else "",
        "type": found.types[0] if len(found.types) == 1 else "",
        "priority": found.priorities[0] if len(found.priorities) == 1 else "",
        "channel": found.channels[0] if len(found.channels) == 1 else "",
        "sla": found.sla,
        "tier": found.tier,
        "assignee": found.assignee,
    }


class TicketCreateForm(forms.Form):
    subject = forms.CharField(label=_("标题"), max_length=200)
    description = forms.CharField(label=_("描述"), required=False, widget=forms.Textarea(attrs={"rows": 5}))
    ticket_type = forms.ChoiceField(
        label=_("工单类型"), choices=TicketType.choices, initial=TicketType.INQUIRY
    )
    priority = forms.ChoiceField(label=_("优先级"), choices=Priority.choices, initial=Priority.NORMAL)
    channel = forms.ChoiceField(label=_("来源渠道"), choices=Channel.choices, initial=Channel.PHONE)
    customer = forms.IntegerField(required=False, widget=forms.HiddenInput)
    new_customer_name = forms.CharField(label=_("新客户姓名"), max_length=200, required=False)
    new_customer_phone = forms.CharField(label=_("新客户电话"), max_length=32, required=False)
    new_customer_tier = forms.ChoiceField(
        label=_("客户等级"), choices=Tier.choices, initial=Tier.C, required=False
    )


class MessageForm(forms.Form):
    body = forms.CharField(label=_("内容"), max_length=20000, widget=forms.Textarea(attrs={"rows": 4}))


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(label=_("新状态"), choices=Status.choices)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(label=_("说明"), max_length=500, required=False)


class AssignForm(forms.Form):
    assignee = forms.IntegerField(label=_("处理人"), required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(label=_("交接原因"), max_length=500, required=False)


class DispatchForm(forms.Form):
    department = forms.ModelChoiceField(
        label=_("接单部门"),
        queryset=Department.objects.filter(is_service_center=False),
        empty_label=_("请选择部门"),
    )
    due_at = MomentField(label=_("要求完成时间"), name="due_at", required=False)
    instructions = forms.CharField(
        label=_("派单说明"), max_length=20000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class EscalateForm(forms.Form):
    reason = forms.CharField(label=_("升级原因"), max_length=500)


class TicketEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    subject = forms.CharField(label=_("标题"), max_length=200)
    ticket_type = forms.ChoiceField(label=_("工单类型"), choices=TicketType.choices)
    priority = forms.ChoiceField(label=_("优先级"), choices=Priority.choices)
    channel = forms.ChoiceField(label=_("来源渠道"), choices=Channel.choices)
    description = forms.CharField(
        label=_("描述"), required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 4})
    )


class DispatchResultForm(forms.Form):
    result = forms.CharField(label=_("处理结果"), max_length=20000, widget=forms.Textarea(attrs={"rows": 3}))


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("文件"))


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("视图名称"), max_length=60)
    query = forms.CharField(max_length=1000, required=False)


# --- the inbox ----------------------------------------------------------------------------------------------


class ConversationTransferForm(forms.Form):
    target = forms.RegexField(label=_("转给"), regex=r"^(team|user):\d{1,12}$",
                              error_messages={"invalid": _("请选择转接给一位同事或一个班组"),
                                              "required": _("请选择转接给一位同事或一个班组")})
    note = forms.CharField(label=_("转接说明"), max_length=500, required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ConversationCloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("结束原因"), choices=[],
                               error_messages={"required": _("请选择结束原因"),
                                               "invalid_choice": _("请选择结束原因")})
    note = forms.CharField(label=_("结束说明"), max_length=500, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from kefu.web.inbox import AGENT_CLOSE_REASONS

        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = AGENT_CLOSE_REASONS


class ConversationAssignForm(forms.Form):
    assignee = forms.IntegerField(label=_("接待客服"), required=False, min_value=1)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ConversationSendForm(forms.Form):
    text = forms.CharField(label=_("内容"), max_length=20000, required=False, strip=False)
    client_id = forms.CharField(max_length=64, required=False)


class CannedReplyForm(forms.Form):
    team = forms.IntegerField(label=_("班组"), required=False, min_value=1)
    shortcut = forms.CharField(label=_("快捷词"), max_length=31)
    title = forms.CharField(label=_("标题"), max_length=100)
    body = forms.CharField(label=_("内容"), max_length=20000, widget=forms.Textarea(attrs={"rows": 5}))
