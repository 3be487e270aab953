"""The administration's pages: people (staff accounts, import, passwords), the organisation (teams, departments,
skills), business calendars, the work-order catalogue (categories, types) and SLA policies. Views parse forms and
call the services of the owning apps; a refused change comes back on the form with the field named."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts import staff as staff_services
from kefu.accounts.choices import Role
from kefu.accounts.importing import staff_import, template_xlsx
from kefu.accounts.models import Department, Skill, Team, User
from kefu.accounts.permissions import AccountRight
from kefu.administration import forms
from kefu.conversations.permissions import ConversationRight
from kefu.core import calendar_admin
from kefu.core.errors import ApplicationError
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.core.permissions import CoreRight
from kefu.core.policy import AUTHENTICATED, PUBLIC, has_right, requires
from kefu.core.tabular import ImportRejected
from kefu.customers.models import Customer
from kefu.customers.services import dedicated_customers_set
from kefu.identity.permissions import IdentityRight
from kefu.integrations.permissions import IntegrationRight
from kefu.notifications.permissions import NotificationRight
from kefu.privacy.permissions import PrivacyRight
from kefu.routing.permissions import RoutingRight
from kefu.telephony.permissions import TelephonyRight
from kefu.tickets import catalog, sla
from kefu.tickets.choices import OPEN_STATUSES, TicketType
from kefu.tickets.models import Category, SlaPolicy, Ticket, TicketTypeSetting
from kefu.tickets.permissions import TicketRight

PAGE_SIZE = 50
PASSWORDS_TTL = 15 * 60  # the temporary passwords of an import can be downloaded for 15 minutes, once


def _refused(form: Any, error: ApplicationError) -> None:
    """Put a service's refusal on the form: on its field when the form has one, else on top."""
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"administration/{template}", {"nav": "admin", **context}, status=status)


# --- the index ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    title: str
    text: str
    url: str
    right: str


def _entries() -> list[Entry]:
    return [
        Entry(_("员工"), _("账号、角色、班组、技能、专属客户；批量导入；重置密码"), "administration:staff_list",
              AccountRight.STAFF_VIEW),
        Entry(_("登录安全"), _("被锁定的账号和地址；全部 API 令牌"), "administration:security",
              AccountRight.SIGNIN_UNLOCK),
        Entry(_("班组"), _("班组和组长"), "administration:team_list", AccountRight.ORG_MANAGE),
        Entry(_("部门"), _("接收派单的部门：联系人、默认完成时限"), "administration:department_list",
              AccountRight.ORG_MANAGE),
        Entry(_("技能"), _("客服技能，熟练度 1–5"), "administration:skill_list", AccountRight.ORG_MANAGE),
        Entry(_("队列"), _("服务水平目标、自动分配策略、溢出、优先级和技能要求"), "administration:queue_list",
              RoutingRight.QUEUE_MANAGE),
        Entry(_("接入渠道"), _("渠道的接待班组、路由队列和首次响应目标"), "administration:channel_list",
              ConversationRight.CHANNEL_MANAGE),
        Entry(_("工作日历"), _("每周工作时间、节假日和调休"), "administration:calendar_list",
              CoreRight.CALENDAR_MANAGE),
        Entry(_("工单分类"), _("两级分类，默认派单部门和 SLA 策略"), "administration:category_list",
              TicketRight.CATEGORY_MANAGE),
        Entry(_("工单类型"), _("六种类型的默认派单部门和 SLA 策略"), "administration:type_list",
              TicketRight.CATEGORY_MANAGE),
        Entry(_("SLA 策略"), _("响应、到场、解决时限"), "administration:sla_list", TicketRight.SLA_MANAGE),
        Entry(_("语音导航"), _("来电按键菜单、工作时间与节假日提示、自助查询工单"), "web:ivr_list",
              TelephonyRight.IVR_MANAGE),
        Entry(_("黑名单"), _("拒接的号码和号段，原因与有效期"), "web:blacklist", TelephonyRight.BLACKLIST_MANAGE),
        Entry(_("Webhook"), _("向其他系统推送事件"), "integrations:endpoint_list", IntegrationRight.WEBHOOK_MANAGE),
        Entry(_("企业微信群机器人"), _("把通知发到班组或部门的群"), "notifications:robot_list",
              NotificationRight.CHANNELS_MANAGE),
        Entry(_("审计日志"), _("谁在何时做了或查看了什么；按人、对象、动作、日期筛选并导出"),
              "administration:audit_list", CoreRight.AUDIT_VIEW),
        Entry(_("两步验证与单点登录"), _("各角色的两步验证要求；重置两步验证；单点登录与本地密码"), "identity:admin",
              IdentityRight.SIGNIN_POLICY_MANAGE),
        Entry(_("删除申请"), _("客户个人信息的删除（匿名化）申请，由第二人审批"), "privacy:erasure_list",
              PrivacyRight.ERASURE),
        Entry(_("数据保存期限"), _("已关闭工单、附件等数据的保存天数，到期自动处理"), "privacy:retention",
              PrivacyRight.RETENTION_MANAGE),
    ]


@requires(AccountRight.STAFF_VIEW)
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    entries = [e for e in _entries() if has_right(request.user, e.right)]
    return _page(request, "index.html", {"entries": [(e, reverse(e.url)) for e in entries]})


# --- staff ----------------------------------------------------------------------------------------------------


@requires(AccountRight.STAFF_VIEW)
@require_GET
def staff_list(request: HttpRequest) -> HttpResponse:
    team = request.GET.get("team", "")
    qs = staff_services.staff_queryset(q=request.GET.get("q", "")[:100], role=request.GET.get("role", ""),
                                       team_id=int(team) if team.isdigit() else None,
                                       active=request.GET.get("active", "active"))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return _page(request, "staff_list.html", {
        "page": page, "roles": Role.choices, "teams": Team.objects.order_by("name"),
        "selected": {k: request.GET.get(k, "") for k in ("q", "role", "team")} | {
            "active": request.GET.get("active", "active")},
        "can_manage": has_right(request.user, AccountRight.STAFF_MANAGE)})


def _staff_data(form: forms.StaffForm) -> staff_services.StaffData:
    data = form.cleaned_data
    return staff_services.StaffData(username=data["username"], display_name=data["display_name"], role=data["role"],
                                    employee_no=data["employee_no"], phone=data["phone"], email=data["email"],
                                    extension=data["extension"], team=data["team"], department=data["department"],
                                    skills=form.skills(), language=data["language"])


def _dedicated(form: forms.StaffForm) -> list[Customer]:
    codes = form.customer_codes()
    found = {c.code: c for c in Customer.objects.filter(code__in=codes, merged_into__isnull=True)}
    missing = [c for c in codes if c not in found]
    if missing:
        form.add_error("dedicated_customers", _("没有这些客户编号：%(c)s") % {"c": "、".join(missing[:10])})
    return [found[c] for c in codes if c in found]


@requires(AccountRight.STAFF_MANAGE)
def staff_create(request: HttpRequest) -> HttpResponse:
    form = forms.StaffForm(request.POST or None, initial={"role": Role.AGENT, "language": "zh-hans"})
    if request.method == "POST" and form.is_valid():
        customers = _dedicated(form)
        if not form.errors:
            try:
                created = staff_services.staff_create(actor=request.user, data=_staff_data(form))
                if customers:
                    dedicated_customers_set(actor=request.user, agent=created.user, customers=customers)
            except ApplicationError as error:
                _refused(form, error)
            else:
                return _page(request, "password_shown.html", {
                    "person": created.user, "temporary_password": created.temporary_password,
                    "created": True})
    return _page(request, "staff_form.html", {"form": form, "person": None},
                 status=422 if request.method == "POST" else 200)


@requires(AccountRight.STAFF_VIEW)
def staff_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    person = User.objects.select_related("team", "department").filter(pk=user_id).first()
    if person is None:
        raise Http404
    skills = {s.skill_id: s.proficiency for s in person.skills.all()}
    codes = "\n".join(Customer.objects.filter(dedicated_agent=person).order_by("code").values_list("code", flat=True))
    initial = {"username": person.username, "display_name": person.display_name, "employee_no": person.employee_no,
               "role": person.role, "team": person.team_id, "department": person.department_id,
               "phone": person.phone, "email": person.email, "extension": person.extension,
               "language": person.language,
               "dedicated_customers": codes, "version": person.version,
               **{f"skill_{pk}": level for pk, level in skills.items()}}
    form = forms.StaffForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not has_right(request.user, AccountRight.STAFF_MANAGE):
            raise Http404  # leads see people; they do not edit them
        if form.is_valid():
            customers = _dedicated(form)
            if not form.errors:
                try:
                    staff_services.staff_update(actor=request.user, user=person, data=_staff_data(form),
                                                expected_version=form.cleaned_data["version"])
                    dedicated_customers_set(actor=request.user, agent=person, customers=customers)
                except ApplicationError as error:
                    _refused(form, error)
                else:
                    messages.success(request, _("已保存"))
                    return redirect("administration:staff_edit", user_id=person.pk)
    open_orders = Ticket.objects.filter(assignee=person, status__in=list(OPEN_STATUSES)).count()
    return _page(request, "staff_form.html", {
        "form": form, "person": person, "open_orders": open_orders,
        "can_manage": has_right(request.user, AccountRight.STAFF_MANAGE),
        "handover_to": User.objects.filter(is_active=True, role__in=[Role.AGENT, Role.TEAM_LEAD, Role.SHIFT_LEAD])
        .exclude(pk=person.pk).select_related("team").order_by("team__name", "display_name")},
        status=422 if request.method == "POST" else 200)


@requires(AccountRight.STAFF_MANAGE)
@require_POST
def staff_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    person = User.objects.filter(pk=user_id).first()
    if person is None:
        raise Http404
    wanted = request.POST.get("active")
    if wanted not in ("0", "1"):  # say which, never guess (a stray post must not deactivate anyone)
        messages.error(request, _("请求有误：未说明启用还是停用"))
        return redirect("administration:staff_edit", user_id=user_id)
    active = wanted == "1"
    try:
        staff_services.staff_set_active(actor=request.user, user=person, active=active)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已启用") if active else _("已停用：该员工不能再登录，历史记录保留"))
    return redirect("administration:staff_edit", user_id=user_id)


@requires(AccountRight.STAFF_MANAGE)
@require_POST
def staff_password(request: HttpRequest, user_id: int) -> HttpResponse:
    person = User.objects.filter(pk=user_id).first()
    if person is None:
        raise Http404
    form = forms.PasswordResetForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择重置方式"))
        return redirect("administration:staff_edit", user_id=user_id)
    try:
        reset = staff_services.staff_reset_password(actor=request.user, user=person,
                                                    method=form.cleaned_data["method"])
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("administration:staff_edit", user_id=user_id)
    link = request.build_absolute_uri(reset.link_path) if reset.link_path else ""
    return _page(request, "password_shown.html", {"person": person, "temporary_password": reset.temporary_password,
                                                  "link": link})


@requires(AccountRight.STAFF_MANAGE)
@require_POST
def staff_handover(request: HttpRequest, user_id: int) -> HttpResponse:
    """Hand every open order a person is assigned to over to someone else (before they leave)."""
    from kefu.tickets.services import ticket_assign

    person = User.objects.filter(pk=user_id).first()
    target = User.objects.filter(pk=request.POST.get("to") or 0, is_active=True).first() \
        if (request.POST.get("to") or "").isdigit() else None
    if person is None:
        raise Http404
    if target is None or target.pk == person.pk:
        messages.error(request, _("请选择接手的人"))
        return redirect("administration:staff_edit", user_id=user_id)
    moved = failed = 0
    for ticket in Ticket.objects.filter(assignee=person, status__in=list(OPEN_STATUSES)).order_by("pk"):
        try:
            ticket_assign(actor=request.user, ticket=ticket, assignee=target, reason=_("人员调整，统一交接"))
            moved += 1
        except ApplicationError:
            failed += 1
    if failed:
        messages.error(request, _("%(n)s 张工单未能交接，请逐张处理") % {"n": failed})
    messages.success(request, _("已将 %(n)s 张未完结工单交接给 %(to)s") % {"n": moved, "to": target})
    return redirect("administration:staff_edit", user_id=user_id)


@requires(AccountRight.STAFF_MANAGE)
def staff_import_page(request: HttpRequest) -> HttpResponse:
    form = forms.StaffImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 422
        else:
            upload = form.cleaned_data["file"]
            try:
                result = staff_import(actor=request.user, data=upload.read(), filename=upload.name or "")
            except ImportRejected as rejected:
                context["rejected"] = rejected
                status = 422
            except ApplicationError as error:
                form.add_error("file", error.message)
                status = 422
            else:
                token = secrets.token_urlsafe(24)
                cache.set(f"kefu:staff-passwords:{request.user.pk}:{token}", result.passwords_xlsx(), PASSWORDS_TTL)
                context.update(result=result, passwords_token=token)
    return _page(request, "staff_import.html", context, status=status)


@requires(AccountRight.STAFF_MANAGE)
@require_GET
def staff_import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_xlsx(), content_type="application/vnd.openxmlformats-officedocument."
                                                           "spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="staff-import-template.xlsx"'
    return response


@requires(AccountRight.STAFF_MANAGE)
@require_GET
def staff_import_passwords(request: HttpRequest, download: str) -> HttpResponse:
    key = f"kefu:staff-passwords:{request.user.pk}:{download}"
    data = cache.get(key)
    if data is None:
        raise Http404
    cache.delete(key)  # once
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="temporary-passwords.xlsx"'
    response["Cache-Control"] = "no-store"
    return response


# --- generic sections: teams, departments, skills, categories, SLA policies -----------------------------------


@dataclass(frozen=True)
class Section:
    """A list with create and edit pages for one kind of object."""

    key: str  # URL name prefix, e.g. "team"
    title: Any
    new_title: Any
    param: str  # the URL parameter of one object, e.g. "team_id"
    right: str
    form: type[forms.StyledForm]
    queryset: Callable[[], QuerySet[Any]]
    columns: list[tuple[Any, Callable[[Any], Any]]]
    initial: Callable[[Any], dict[str, Any]]
    create: Callable[[Any, dict[str, Any]], Any]
    update: Callable[[Any, Any, dict[str, Any], int | None], Any]
    help: Any = ""


def _section_list(section: Section) -> Callable[..., HttpResponse]:
    @requires(section.right)
    @require_GET
    def view(request: HttpRequest) -> HttpResponse:
        rows = [(obj, [getter(obj) for _label, getter in section.columns]) for obj in section.queryset()]
        return _page(request, "section_list.html", {"section": section, "rows": rows,
                                                    "headers": [label for label, _getter in section.columns]})

    view.__name__ = f"{section.key}_list"
    return view


def _section_create(section: Section) -> Callable[..., HttpResponse]:
    @requires(section.right)
    def view(request: HttpRequest) -> HttpResponse:
        form = section.form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                obj = section.create(request.user, form.cleaned_data)
            except ApplicationError as error:
                _refused(form, error)
            else:
                messages.success(request, _("已添加“%(name)s”") % {"name": obj})
                return redirect(f"administration:{section.key}_list")
        return _page(request, "section_form.html", {"section": section, "form": form, "obj": None},
                     status=422 if request.method == "POST" else 200)

    view.__name__ = f"{section.key}_create"
    return view


def _section_edit(section: Section) -> Callable[..., HttpResponse]:
    @requires(section.right)
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        obj = section.queryset().filter(pk=kwargs[section.param]).first()
        if obj is None:
            raise Http404
        form = section.form(request.POST or None, initial=section.initial(obj))
        if request.method == "POST" and form.is_valid():
            try:
                section.update(request.user, obj, form.cleaned_data, form.cleaned_data.get("version"))
            except ApplicationError as error:
                _refused(form, error)
            else:
                messages.success(request, _("已保存"))
                return redirect(f"administration:{section.key}_list")
        return _page(request, "section_form.html", {"section": section, "form": form, "obj": obj},
                     status=422 if request.method == "POST" else 200)

    view.__name__ = f"{section.key}_edit"
    return view


def _yes(value: bool) -> str:
    return _("启用") if value else _("停用")


def _team_data(d: dict[str, Any]) -> staff_services.TeamData:
    return staff_services.TeamData(name=d["name"], department=d["department"], lead=d["lead"],
                                   is_active=d["is_active"])


def _department_data(d: dict[str, Any]) -> staff_services.DepartmentData:
    hours = d.get("default_due_hours")
    return staff_services.DepartmentData(
        name=d["name"], code=d["code"], is_service_center=d["is_service_center"], manager=d["manager"],
        contact_name=d["contact_name"], contact_phone=d["contact_phone"], contact_email=d["contact_email"],
        calendar=d["calendar"], default_due_seconds=int(hours * 3600) if hours else None, is_active=d["is_active"])


def _due_hours(department: Department) -> str:
    if not department.default_due_seconds:
        return "—"
    hours = Decimal(department.default_due_seconds) / 3600
    return _("%(h)s 工作小时") % {"h": f"{hours:g}"}


def _category_data(d: dict[str, Any]) -> catalog.CategoryData:
    return catalog.CategoryData(name=d["name"], name_en=d["name_en"], ticket_type=d["ticket_type"],
                                parent=d["parent"], default_department=d["default_department"],
                                default_sla_policy=d["default_sla_policy"], is_active=d["is_active"],
                                sort_order=d["sort_order"] or 0)


def _minutes(seconds: int | None) -> int | None:
    return seconds // 60 if seconds else None


def _policy_data(d: dict[str, Any]) -> sla.SlaPolicyData:
    def secs(name: str) -> int | None:
        return d[name] * 60 if d.get(name) else None

    return sla.SlaPolicyData(name=d["name"], calendar=d["calendar"], ticket_type=d["ticket_type"],
                             priority=d["priority"], customer_tier=d["customer_tier"], channel=d["channel"],
                             vip_only=d["vip_only"], first_response_seconds=secs("first_response_minutes"),
                             next_response_seconds=secs("next_response_minutes"),
                             onsite_seconds=secs("onsite_minutes"), resolution_seconds=secs("resolution_minutes"),
                             warning_fraction=(d.get("warning_percent") or 80) / 100, is_active=d["is_active"])


def _duration(seconds: int | None) -> str:
    if not seconds:
        return "—"
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return _("%(h)s 小时 %(m)s 分") % {"h": hours, "m": minutes}
    if hours:
        return _("%(h)s 小时") % {"h": hours}
    return _("%(m)s 分钟") % {"m": minutes} if minutes else _("%(s)s 秒") % {"s": seconds}


SECTIONS = [
    Section(
        key="team", title=gettext_lazy("班组"), new_title=gettext_lazy("新建班组"), param="team_id",
        right=AccountRight.ORG_MANAGE, form=forms.TeamForm,
        queryset=lambda: Team.objects.select_related("department", "lead").annotate(
            people=Count("members", filter=Q(members__is_active=True))).order_by("-is_active", "name"),
        columns=[(gettext_lazy("班组名称"), lambda t: t.name), (gettext_lazy("组长"), lambda t: t.lead or "—"),
                 (gettext_lazy("在职人数"), lambda t: t.people), (gettext_lazy("状态"), lambda t: _yes(t.is_active))],
        initial=lambda t: {"name": t.name, "department": t.department_id, "lead": t.lead_id,
                           "is_active": t.is_active, "version": t.version},
        create=lambda actor, d: staff_services.team_create(actor=actor, data=_team_data(d)),
        update=lambda actor, t, d, v: staff_services.team_update(actor=actor, team=t, data=_team_data(d),
                                                                 expected_version=v),
        help=gettext_lazy("组长须是客服组长（或班长、经理）；组长没有班组时自动加入本组。")),
    Section(
        key="department", title=gettext_lazy("部门"), new_title=gettext_lazy("新建部门"), param="department_id",
        right=AccountRight.ORG_MANAGE, form=forms.DepartmentForm,
        queryset=lambda: Department.objects.select_related("manager", "calendar").annotate(
            people=Count("members", filter=Q(members__is_active=True))).order_by("-is_service_center", "name"),
        columns=[(gettext_lazy("部门名称"), lambda d: d.name), (gettext_lazy("代码"), lambda d: d.code),
                 (gettext_lazy("联系人"), lambda d: " ".join(p for p in (d.contact_name, d.contact_phone) if p) or "—"),
                 (gettext_lazy("默认完成时限"), _due_hours), (gettext_lazy("在职人数"), lambda d: d.people),
                 (gettext_lazy("状态"), lambda d: _yes(d.is_active))],
        initial=lambda d: {"name": d.name, "code": d.code, "is_service_center": d.is_service_center,
                           "manager": d.manager_id, "contact_name": d.contact_name, "contact_phone": d.contact_phone,
                           "contact_email": d.contact_email, "calendar": d.calendar_id,
                           "default_due_hours": Decimal(d.default_due_seconds) / 3600 if d.default_due_seconds
                           else None, "is_active": d.is_active, "version": d.version},
        create=lambda actor, d: staff_services.department_create(actor=actor, data=_department_data(d)),
        update=lambda actor, dep, d, v: staff_services.department_update(
            actor=actor, department=dep, data=_department_data(d), expected_version=v),
        help=gettext_lazy("派单没写要求完成时间时，按部门的工作日历和默认时限计时，超时提醒部门人员。")),
    Section(
        key="skill", title=gettext_lazy("技能"), new_title=gettext_lazy("新建技能"), param="skill_id",
        right=AccountRight.ORG_MANAGE, form=forms.SkillForm,
        queryset=lambda: Skill.objects.annotate(people=Count("agents")).order_by("-is_active", "code"),
        columns=[(gettext_lazy("技能代码"), lambda s: s.code), (gettext_lazy("技能名称"), lambda s: s.name),
                 (gettext_lazy("掌握人数"), lambda s: s.people), (gettext_lazy("状态"), lambda s: _yes(s.is_active))],
        initial=lambda s: {"code": s.code, "name": s.name, "is_active": s.is_active, "version": s.version},
        create=lambda actor, d: staff_services.skill_create(
            actor=actor, data=staff_services.SkillData(code=d["code"], name=d["name"], is_active=d["is_active"])),
        update=lambda actor, s, d, v: staff_services.skill_update(
            actor=actor, skill=s, data=staff_services.SkillData(code=d["code"], name=d["name"],
                                                                is_active=d["is_active"]), expected_version=v)),
    Section(
        key="category", title=gettext_lazy("工单分类"), new_title=gettext_lazy("新建分类"), param="category_id",
        right=TicketRight.CATEGORY_MANAGE, form=forms.CategoryForm,
        queryset=lambda: Category.objects.select_related("parent", "default_department", "default_sla_policy")
        .order_by("parent__sort_order", "parent__name", "sort_order", "name"),
        columns=[(gettext_lazy("分类"), str), (gettext_lazy("适用类型"), lambda c: c.get_ticket_type_display() or "—"),
                 (gettext_lazy("默认派单部门"), lambda c: c.default_department or "—"),
                 (gettext_lazy("默认 SLA 策略"), lambda c: c.default_sla_policy or "—"),
                 (gettext_lazy("状态"), lambda c: _yes(c.is_active))],
        initial=lambda c: {"name": c.name, "name_en": c.name_en, "ticket_type": c.ticket_type,
                           "parent": c.parent_id, "default_department": c.default_department_id,
                           "default_sla_policy": c.default_sla_policy_id, "sort_order": c.sort_order,
                           "is_active": c.is_active, "version": c.version},
        create=lambda actor, d: catalog.category_create(actor=actor, data=_category_data(d)),
        update=lambda actor, c, d, v: catalog.category_update(actor=actor, category=c, data=_category_data(d),
                                                              expected_version=v),
        help=gettext_lazy("分类的默认 SLA 策略优先于类型的默认策略和匹配规则；默认派单部门会预先选在派单表单里。")),
    Section(
        key="sla", title=gettext_lazy("SLA 策略"), new_title=gettext_lazy("新建 SLA 策略"), param="policy_id",
        right=TicketRight.SLA_MANAGE, form=forms.SlaPolicyForm,
        queryset=lambda: SlaPolicy.objects.select_related("calendar").order_by("name"),
        columns=[(gettext_lazy("策略名称"), lambda p: p.name), (gettext_lazy("工作日历"), lambda p: p.calendar),
                 (gettext_lazy("首次响应"), lambda p: _duration(p.first_response_seconds)),
                 (gettext_lazy("到场"), lambda p: _duration(p.onsite_seconds)),
                 (gettext_lazy("解决"), lambda p: _duration(p.resolution_seconds)),
                 (gettext_lazy("状态"), lambda p: _yes(p.is_active))],
        initial=lambda p: {"name": p.name, "calendar": p.calendar_id, "ticket_type": p.ticket_type,
                           "priority": p.priority, "customer_tier": p.customer_tier, "channel": p.channel,
                           "vip_only": p.vip_only, "first_response_minutes": _minutes(p.first_response_seconds),
                           "next_response_minutes": _minutes(p.next_response_seconds),
                           "onsite_minutes": _minutes(p.onsite_seconds),
                           "resolution_minutes": _minutes(p.resolution_seconds),
                           "warning_percent": round(p.warning_fraction * 100), "is_active": p.is_active,
                           "version": p.version},
        create=lambda actor, d: sla.sla_policy_create(actor=actor, data=_policy_data(d)),
        update=lambda actor, p, d, v: sla.sla_policy_update(actor=actor, policy=p, data=_policy_data(d),
                                                            expected_version=v),
        help=gettext_lazy("时限按所选工作日历的工作时间计算。修改后，使用该策略的未完结工单由后台重新计算到期时间，"
                          "已用的工作时间保留。")),
]
SECTION_VIEWS = {s.key: (_section_list(s), _section_create(s), _section_edit(s)) for s in SECTIONS}


# --- work-order types -----------------------------------------------------------------------------------------


@requires(TicketRight.CATEGORY_MANAGE)
def type_list(request: HttpRequest) -> HttpResponse:
    settings_by_type = {s.ticket_type: s for s in TicketTypeSetting.objects.all()}
    departments = list(Department.objects.filter(is_active=True, is_service_center=False).order_by("name"))
    policies = list(SlaPolicy.objects.filter(is_active=True).order_by("name"))
    error = ""
    if request.method == "POST":
        ticket_type = request.POST.get("ticket_type", "")
        department_id = request.POST.get("default_department", "")
        policy_id = request.POST.get("default_sla_policy", "")
        version = request.POST.get("version", "")
        try:
            catalog.type_setting_set(
                actor=request.user, ticket_type=ticket_type,
                default_department=next((d for d in departments if str(d.pk) == department_id), None),
                default_sla_policy=next((p for p in policies if str(p.pk) == policy_id), None),
                expected_version=int(version) if version.isdigit() else None)
        except ApplicationError as refused:
            error = refused.message
        else:
            messages.success(request, _("已保存"))
            return redirect("administration:type_list")
    rows = [(value, label, settings_by_type.get(value)) for value, label in TicketType.choices]
    return _page(request, "types.html", {"rows": rows, "departments": departments, "policies": policies,
                                         "error": error}, status=422 if error else 200)


# --- calendars ------------------------------------------------------------------------------------------------


@requires(CoreRight.CALENDAR_MANAGE)
@require_GET
def calendar_list(request: HttpRequest) -> HttpResponse:
    calendars = BusinessCalendar.objects.annotate(day_count=Count("days")).order_by("name")
    return _page(request, "calendar_list.html", {"calendars": calendars})


def _week_from_post(request: HttpRequest) -> list[list[list[str]]]:
    week = []
    for day in range(7):
        periods = []
        for slot in range(3):
            start = request.POST.get(f"w{day}_{slot}_start", "").strip()
            end = request.POST.get(f"w{day}_{slot}_end", "").strip()
            if start or end:
                periods.append([start, end])
        week.append(periods)
    return week


def _week_rows(week: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for index in range(7):
        periods = list(week[index]) if index < len(week) else []
        slots = [(periods[s] if s < len(periods) else ["", ""]) for s in range(3)]
        rows.append({"index": index, "name": calendar_admin.weekday_name(index), "slots": list(enumerate(slots))})
    return rows


@requires(CoreRight.CALENDAR_MANAGE)
def calendar_create(request: HttpRequest) -> HttpResponse:
    form = forms.CalendarForm(request.POST or None)
    week: list[Any] = [[["09:00", "12:00"], ["13:00", "18:00"]]] * 5 + [[], []]
    if request.method == "POST":
        week = _week_from_post(request)
        if form.is_valid():
            try:
                calendar = calendar_admin.calendar_create(actor=request.user, data=calendar_admin.CalendarData(
                    name=form.cleaned_data["name"], time_zone=form.cleaned_data["time_zone"],
                    always_open=form.cleaned_data["always_open"], week=week))
            except ApplicationError as error:
                _refused(form, error)
            else:
                messages.success(request, _("已创建日历“%(name)s”，请添加节假日和调休") % {"name": calendar.name})
                return redirect("administration:calendar_edit", calendar_id=calendar.pk)
    return _page(request, "calendar_form.html", {"form": form, "calendar": None, "week": _week_rows(week)},
                 status=422 if request.method == "POST" else 200)


@requires(CoreRight.CALENDAR_MANAGE)
def calendar_edit(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404
    form = forms.CalendarForm(request.POST or None, initial={
        "name": calendar.name, "time_zone": calendar.time_zone, "always_open": calendar.always_open,
        "version": calendar.version})
    week: list[Any] = calendar.week
    if request.method == "POST":
        week = _week_from_post(request)
        if form.is_valid():
            try:
                calendar_admin.calendar_update(actor=request.user, calendar=calendar, data=calendar_admin.CalendarData(
                    name=form.cleaned_data["name"], time_zone=form.cleaned_data["time_zone"],
                    always_open=form.cleaned_data["always_open"], week=week),
                    expected_version=form.cleaned_data["version"])
            except ApplicationError as error:
                _refused(form, error)
            else:
                messages.success(request, _("已保存；使用该日历的计时会重新计算到期时间"))
                return redirect("administration:calendar_edit", calendar_id=calendar.pk)
    return _calendar_page(request, calendar, form, week, status=422 if request.method == "POST" else 200)


def _calendar_page(request: HttpRequest, calendar: BusinessCalendar, form: Any, week: list[Any], *,
                   day_form: Any = None, import_form: Any = None, rejected: Any = None,
                   status: int = 200) -> HttpResponse:
    years = sorted({d.year for d in calendar.days.values_list("date", flat=True)}, reverse=True)
    raw_year = request.GET.get("year", "")
    year = int(raw_year) if raw_year.isdigit() and 2000 <= int(raw_year) <= 2100 else (years[0] if years else None)
    days = calendar.days.filter(date__year=year).order_by("date") if year else CalendarDay.objects.none()
    return _page(request, "calendar_form.html", {
        "form": form, "calendar": calendar, "week": _week_rows(week), "days": days, "years": years, "year": year,
        "day_form": day_form or forms.DayForm(), "import_form": import_form or forms.DaysImportForm(),
        "rejected": rejected}, status=status)


@requires(CoreRight.CALENDAR_MANAGE)
@require_POST
def calendar_day_add(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404
    day_form = forms.DayForm(request.POST)
    if day_form.is_valid():
        from kefu.core.calendar_admin import _parse_periods_cell

        try:
            periods = _parse_periods_cell(day_form.cleaned_data["periods"] or "")
        except ValueError:
            day_form.add_error("periods", _("工作时段格式不正确（例如 09:00-12:00,13:00-18:00）"))
        else:
            try:
                data = calendar_admin.DayData(date=day_form.cleaned_data["date"], kind=day_form.cleaned_data["kind"],
                                              name=day_form.cleaned_data["name"], periods=periods)
                day = calendar_admin.calendar_day_set(actor=request.user, calendar=calendar, data=data)
            except ApplicationError as error:
                _refused(day_form, error)
            else:
                messages.success(request, _("已设置 %(d)s") % {"d": day.date.isoformat()})
                return redirect(f"{reverse('administration:calendar_edit', args=[calendar.pk])}?year={day.date.year}")
    form = forms.CalendarForm(initial={"name": calendar.name, "time_zone": calendar.time_zone,
                                       "always_open": calendar.always_open, "version": calendar.version})
    return _calendar_page(request, calendar, form, calendar.week, day_form=day_form, status=422)


@requires(CoreRight.CALENDAR_MANAGE)
@require_POST
def calendar_day_delete(request: HttpRequest, calendar_id: int) -> HttpResponse:
    from kefu.core.dates import DateInputError, parse_day

    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404
    try:
        day = parse_day(request.POST.get("date", ""), field="date")
        calendar_admin.calendar_day_delete(actor=request.user, calendar=calendar, day_date=day)
    except DateInputError:
        messages.error(request, _("日期格式不正确"))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已删除 %(d)s 的设置") % {"d": day.isoformat()})
    return redirect("administration:calendar_edit", calendar_id=calendar.pk)


@requires(CoreRight.CALENDAR_MANAGE)
@require_POST
def calendar_import(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404
    import_form = forms.DaysImportForm(request.POST, request.FILES)
    rejected = None
    if import_form.is_valid():
        upload = import_form.cleaned_data["file"]
        try:
            report = calendar_admin.calendar_days_import(
                actor=request.user, calendar=calendar, data=upload.read(), filename=upload.name or "",
                replace_year=import_form.cleaned_data["replace_year"])
        except ImportRejected as refused:
            rejected = refused
        except ApplicationError as error:
            import_form.add_error("file", error.message)
        else:
            messages.success(request, _("已导入 %(c)s 天，更新 %(u)s 天") % {"c": report.created, "u": report.updated})
            return redirect("administration:calendar_edit", calendar_id=calendar.pk)
    form = forms.CalendarForm(initial={"name": calendar.name, "time_zone": calendar.time_zone,
                                       "always_open": calendar.always_open, "version": calendar.version})
    return _calendar_page(request, calendar, form, calendar.week, import_form=import_form, rejected=rejected,
                          status=422)


# --- one's own password ------------------------------------------------------------------------------------


@requires(AUTHENTICATED)
def account_password(request: HttpRequest) -> HttpResponse:
    """Change one's password; the page every request leads to while a temporary password is in use."""
    forced = request.user.must_change_password
    errors: dict[str, str] = {}
    if request.method == "POST":
        new, again = request.POST.get("new_password", ""), request.POST.get("new_password_again", "")
        if new != again:
            errors["new_password_again"] = _("两次输入的新密码不一致")
        else:
            try:
                user = staff_services.password_change(
                    user=request.user, new_password=new,
                    old_password=None if forced else request.POST.get("old_password", ""))
            except ApplicationError as error:
                errors[str(error.details.get("field", "new_password"))] = error.message
            else:
                update_session_auth_hash(request, user)
                messages.success(request, _("密码已修改"))
                return redirect("web:home")
    return _page(request, "password_change.html", {"forced": forced, "errors": errors},
                 status=422 if errors else 200)


@requires(PUBLIC)
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The one-time link an administrator gave: set a new password (the link stops working once used)."""
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uidb64))), is_active=True).first()
    except (ValueError, OverflowError):
        user = None
    valid = user is not None and default_token_generator.check_token(user, token)
    errors: dict[str, str] = {}
    if valid and request.method == "POST":
        new, again = request.POST.get("new_password", ""), request.POST.get("new_password_again", "")
        if new != again:
            errors["new_password_again"] = _("两次输入的新密码不一致")
        else:
            try:
                staff_services.password_change(user=user, new_password=new)  # type: ignore[arg-type]
            except ApplicationError as error:
                errors["new_password"] = error.message
            else:
                messages.success(request, _("密码已设置，请用新密码登录"))
                return redirect("web:login")
    return render(request, "administration/password_reset.html", {"valid": valid, "errors": errors},
                  status=422 if errors else 200)
