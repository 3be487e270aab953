"""Forms of the administration pages: they parse what the browser sends (types, choices, required fields);
the services validate the rest and name the field they refuse."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Skill, Team, User
from kefu.core.dates import DayField
from kefu.core.models import BusinessCalendar
from kefu.routing.choices import Affinity, QueueKind, RoutingStrategy, ServiceLevelFormula
from kefu.routing.models import Queue, QueueSkill
from kefu.tickets.choices import Channel, Priority, TicketType
from kefu.tickets.models import Category, SlaPolicy


class StyledForm(forms.Form):
    """Inputs with the product's classes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.HiddenInput):
                continue
            if not isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "input")


def _people(**filters: Any) -> Any:
    return User.objects.filter(is_active=True, **filters).order_by("employee_no", "username")


class VersionField(forms.IntegerField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, min_value=1, **kwargs)


class StaffForm(StyledForm):
    username = forms.CharField(label=_("用户名"), max_length=150)
    display_name = forms.CharField(label=_("姓名"), max_length=100)
    employee_no = forms.CharField(label=_("工号"), max_length=20, required=False)
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices)
    team = forms.ModelChoiceField(label=_("班组"), queryset=Team.objects.filter(is_active=True), required=False,
                                  empty_label=_("（无）"))
    department = forms.ModelChoiceField(label=_("部门"), queryset=Department.objects.filter(is_active=True),
                                        required=False, empty_label=_("（随班组）"))
    phone = forms.CharField(label=_("手机号"), max_length=32, required=False)
    email = forms.CharField(label=_("邮箱"), max_length=254, required=False)
    extension = forms.CharField(label=_("分机号"), max_length=20, required=False,
                                help_text=_("电话系统中此人话机的分机号；点击拨号时先呼叫这部话机"))
    language = forms.ChoiceField(label=_("界面语言"), choices=[("zh-hans", "简体中文"), ("en", "English")])
    dedicated_customers = forms.CharField(
        label=_("专属客户"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("客户编号，每行一个（或用逗号分隔）；留空表示没有专属客户"))
    version = VersionField()

    def __init__(self, *args: Any, skills: list[Skill] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skill_list = skills if skills is not None else list(Skill.objects.filter(is_active=True))
        for skill in self.skill_list:
            self.fields[f"skill_{skill.pk}"] = forms.TypedChoiceField(
                label=skill.name, required=False, coerce=int, empty_value=0,
                choices=[("", "—"), *[(n, str(n)) for n in range(1, 6)]])

    def skill_fields(self) -> list[Any]:
        return [self[f"skill_{skill.pk}"] for skill in self.skill_list]

    def skills(self) -> list[tuple[Skill, int]]:
        return [(skill, self.cleaned_data[f"skill_{skill.pk}"]) for skill in self.skill_list
                if self.cleaned_data.get(f"skill_{skill.pk}")]

    def customer_codes(self) -> list[str]:
        text = self.cleaned_data.get("dedicated_customers") or ""
        return [c.strip() for c in text.replace("，", ",").replace("\n", ",").split(",") if c.strip()]


class PasswordResetForm(forms.Form):
    method = forms.ChoiceField(choices=[("temporary", _("临时密码")), ("link", _("一次性链接"))])


class TeamForm(StyledForm):
    name = forms.CharField(label=_("班组名称"), max_length=100)
    department = forms.ModelChoiceField(label=_("所属部门"),
                                        queryset=Department.objects.filter(is_active=True, is_service_center=True),
                                        empty_label=None)
    lead = forms.ModelChoiceField(label=_("组长"), required=False, empty_label=_("（暂无）"),
                                  queryset=_people(role__in=[Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER]))
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = VersionField()


class DepartmentForm(StyledForm):
    name = forms.CharField(label=_("部门名称"), max_length=100)
    code = forms.CharField(label=_("部门代码"), max_length=40, help_text=_("小写字母、数字、- 和 _，例如 repair"))
    is_service_center = forms.BooleanField(label=_("客服中心"), required=False,
                                           help_text=_("客服中心本身；其他部门接收派单"))
    manager = forms.ModelChoiceField(label=_("负责人"), queryset=_people(), required=False, empty_label=_("（暂无）"))
    contact_name = forms.CharField(label=_("联系人"), max_length=100, required=False)
    contact_phone = forms.CharField(label=_("联系电话"), max_length=32, required=False)
    contact_email = forms.CharField(label=_("联系邮箱"), max_length=254, required=False)
    calendar = forms.ModelChoiceField(label=_("工作日历"), queryset=BusinessCalendar.objects.all(), required=False,
                                      empty_label=_("（不设）"))
    default_due_hours = forms.DecimalField(label=_("默认完成时限（工作小时）"), required=False, min_value=0,
                                           max_value=10000, decimal_places=2,
                                           help_text=_("派单没写要求完成时间时，按此部门的工作日历计时"))
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = VersionField()


class SkillForm(StyledForm):
    code = forms.CharField(label=_("技能代码"), max_length=40, help_text=_("小写字母、数字、- 和 _"))
    name = forms.CharField(label=_("技能名称"), max_length=100)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = VersionField()


class CalendarForm(StyledForm):
    name = forms.CharField(label=_("名称"), max_length=100)
    time_zone = forms.CharField(label=_("时区"), max_length=64, initial="Asia/Shanghai")
    always_open = forms.BooleanField(label=_("7×24 小时"), required=False)
    version = VersionField()


class DayForm(StyledForm):
    prefix = "day"  # the calendar's own form shares the page (and has a "name" too)
    date = DayField(label=_("日期"), name="date")
    kind = forms.ChoiceField(label=_("类型"), choices=[("holiday", _("节假日（休息）")), ("workday", _("调休上班"))])
    name = forms.CharField(label=_("名称"), max_length=100, required=False)
    periods = forms.CharField(label=_("工作时段"), max_length=200, required=False,
                              help_text=_("调休上班日的时段，例如 09:00-12:00,13:00-18:00；留空按平时"))


class DaysImportForm(forms.Form):
    file = forms.FileField(label=_("文件"))
    replace_year = forms.BooleanField(label=_("先清空文件所涉年份的已有设置"), required=False)


class StaffImportForm(forms.Form):
    file = forms.FileField(label=_("文件"))


class CategoryForm(StyledForm):
    name = forms.CharField(label=_("分类名称"), max_length=100)
    name_en = forms.CharField(label=_("英文名称"), max_length=100, required=False)
    ticket_type = forms.ChoiceField(label=_("适用类型"), choices=[("", _("（全部类型）")), *TicketType.choices],
                                    required=False)
    parent = forms.ModelChoiceField(label=_("上级分类"), queryset=Category.objects.filter(parent__isnull=True),
                                    required=False, empty_label=_("（无，作为一级分类）"))
    default_department = forms.ModelChoiceField(
        label=_("默认派单部门"), queryset=Department.objects.filter(is_active=True, is_service_center=False),
        required=False, empty_label=_("（不设）"))
    default_sla_policy = forms.ModelChoiceField(label=_("默认 SLA 策略"),
                                                queryset=SlaPolicy.objects.filter(is_active=True),
                                                required=False, empty_label=_("（按规则匹配）"))
    sort_order = forms.IntegerField(label=_("排序"), min_value=0, max_value=100000, initial=0)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = VersionField()


class SlaPolicyForm(StyledForm):
    name = forms.CharField(label=_("策略名称"), max_length=100)
    calendar = forms.ModelChoiceField(label=_("工作日历"), queryset=BusinessCalendar.objects.all(), empty_label=None)
    ticket_type = forms.ChoiceField(label=_("工单类型"), choices=[("", _("（任意）")), *TicketType.choices],
                                    required=False)
    priority = forms.ChoiceField(label=_("优先级"), choices=[("", _("（任意）")), *Priority.choices], required=False)
    customer_tier = forms.ChoiceField(label=_("客户等级"), choices=[("", _("（任意）")), ("A", "A"), ("B", "B"),
                                                                    ("C", "C"), ("D", "D")], required=False)
    channel = forms.ChoiceField(label=_("渠道"), choices=[("", _("（任意）")), *Channel.choices], required=False)
    vip_only = forms.BooleanField(label=_("仅 VIP"), required=False)
    first_response_minutes = forms.IntegerField(label=_("首次响应（工作分钟）"), required=False, min_value=1,
                                                max_value=35791394)
    next_response_minutes = forms.IntegerField(label=_("再次响应（工作分钟）"), required=False, min_value=1,
                                               max_value=35791394)
    onsite_minutes = forms.IntegerField(label=_("到场（工作分钟）"), required=False, min_value=1, max_value=35791394)
    resolution_minutes = forms.IntegerField(label=_("解决（工作分钟）"), required=False, min_value=1,
                                            max_value=35791394)
    warning_percent = forms.IntegerField(label=_("预警点（已用时限的百分比）"), min_value=1, max_value=99, initial=80)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = VersionField()


class QueueForm(StyledForm):
    """A queue's settings, grouped on the page as the fields below are (see GROUPS); the ranges are checked by
    the queue services, which name the field."""

    code = forms.CharField(label=_("队列代码"), max_length=40,
                           help_text=_("小写字母、数字、- 和 _；电话系统用它指队列，创建后不能修改"))
    name = forms.CharField(label=_("名称"), max_length=100)
    kind = forms.ChoiceField(label=_("类型"), choices=QueueKind.choices)
    team = forms.ModelChoiceField(label=_("班组"), queryset=Team.objects.filter(is_active=True), required=False,
                                  empty_label=_("（不限班组）"), help_text=_("只分配给本班组的坐席"))
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    target_percent = forms.IntegerField(label=_("目标接通比例（%）"), help_text=_("X：1–100"))
    target_seconds = forms.IntegerField(label=_("目标接通时间（秒）"), help_text=_("Y：0–3600"))
    formula = forms.TypedChoiceField(label=_("服务水平公式"), coerce=int, choices=ServiceLevelFormula.choices)
    short_abandon_seconds = forms.IntegerField(label=_("短时放弃阈值（秒）"),
                                               help_text=_("早于此放弃的不计入放弃量（0–600）"))
    routed = forms.BooleanField(label=_("由客服系统分配"), required=False,
                                help_text=_("关闭时由电话系统或坐席自行领取"))
    strategy = forms.ChoiceField(label=_("分配策略"), choices=RoutingStrategy.choices)
    offer_seconds = forms.IntegerField(label=_("振铃/提醒秒数"), help_text=_("坐席多久未应答即转给下一位（5–300）"))
    affinity = forms.ChoiceField(label=_("坐席偏好"), choices=Affinity.choices)
    affinity_seconds = forms.IntegerField(label=_("偏好等待秒数"), required=False,
                                          help_text=_("等待偏好坐席的时间，之后任何坐席都可接（1–3600）"))
    overflow_to = forms.ModelChoiceField(label=_("溢出到队列"), queryset=Queue.objects.none(), required=False,
                                         empty_label=_("（不溢出）"))
    overflow_after_seconds = forms.IntegerField(label=_("等待多少秒后溢出"), required=False,
                                                help_text=_("1–86400；保留原优先级和排队时间"))
    vip_priority = forms.IntegerField(label=_("VIP 优先级加分"), help_text=_("0–100"))
    complaint_priority = forms.IntegerField(label=_("投诉优先级加分"), help_text=_("0–100"))
    long_wait_seconds = forms.IntegerField(label=_("长时等待秒数"), required=False,
                                           help_text=_("等待超过此时间加分一次；留空不加（1–86400）"))
    long_wait_priority = forms.IntegerField(label=_("长时等待优先级加分"), help_text=_("0–100"))
    callback_allowed = forms.BooleanField(label=_("允许预约回拨"), required=False,
                                          help_text=_("来电者可挂机等待回拨，保留排队位置"))
    version = VersionField()

    GROUPS = (
        ("basic", _("基本信息"), "", ("code", "name", "kind", "team", "is_active")),
        ("service_level", _("服务水平"), _("X% 的联络在 Y 秒内接通；报表和大屏按此计算"),
         ("target_percent", "target_seconds", "formula", "short_abandon_seconds")),
        ("strategy", _("分配策略"), _("空闲且具备全部所需技能的坐席中，按策略选出一位"),
         ("routed", "strategy", "offer_seconds")),
        ("affinity", _("坐席亲和"), _("老客户优先等待上次接待的坐席或其专属坐席"), ("affinity", "affinity_seconds")),
        ("overflow", _("溢出"), _("等待过久时转到另一个同类型队列；溢出链不能形成循环"),
         ("overflow_to", "overflow_after_seconds")),
        ("priority", _("优先级"), _("排队按优先级从高到低，同级按进入排队的时间"),
         ("vip_priority", "complaint_priority", "long_wait_seconds", "long_wait_priority")),
        ("callback", _("回拨"), "", ("callback_allowed",)),
    )

    def __init__(self, *args: Any, queue: Queue | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        others = Queue.objects.order_by("-is_active", "code")
        self.fields["overflow_to"].queryset = others.exclude(pk=queue.pk) if queue else others
        self.fields["overflow_to"].label_from_instance = lambda q: (
            f"{q.name}（{q.code}）" if q.is_active else f"{q.name}（{q.code}，{_('已停用')}）")
        if queue is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = _("电话系统用它指队列，创建后不能修改")
        required = set(QueueSkill.objects.filter(queue=queue).values_list("skill_id", flat=True)) if queue else set()
        self.skill_list = list(Skill.objects.filter(Q(is_active=True) | Q(pk__in=required)).order_by("code"))
        for skill in self.skill_list:
            self.fields[f"skill_{skill.pk}"] = forms.TypedChoiceField(
                label=skill.name, required=False, coerce=int, empty_value=0,
                choices=[("", _("不要求")), *[(n, _("≥ %(n)s 级") % {"n": n}) for n in range(1, 6)]])

    def groups(self) -> list[tuple[str, Any, Any, list[Any]]]:
        return [(key, title, text, [self[name] for name in names]) for key, title, text, names in self.GROUPS]

    def skill_fields(self) -> list[Any]:
        return [self[f"skill_{skill.pk}"] for skill in self.skill_list]

    def skills(self) -> tuple[tuple[Skill, int], ...]:
        return tuple((skill, self.cleaned_data[f"skill_{skill.pk}"]) for skill in self.skill_list
                     if self.cleaned_data.get(f"skill_{skill.pk}"))
