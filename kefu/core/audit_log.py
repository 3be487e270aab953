"""Reading the audit log: one filter definition (`AuditFilter`, parsed by `parse_audit_filter`) serves the
audit viewer's page, its API and its Excel export, so the three never disagree on what a filter means.

Only holders of `audit.view` read it. Nothing here changes or deletes a row; an export is itself audited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.audit import LOOKUP, audit_record, lookup_digest, lookup_summary
from kefu.core.dates import DateInputError, parse_optional_moment
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.pagination import KeysetPage, keyset_page
from kefu.core.permissions import CoreRight
from kefu.core.policy import has_right
from kefu.core.search import text_contains

EXPORTED = "audit.exported"
SEARCH_MAX = 100
EXPORT_MAX_ROWS = 100_000  # past this, narrow the filter
SYSTEM_ACTOR = "system"  # the actor filter's value for rows written by no person (rules, the command line)
_ACTION = re.compile(r"^[a-z0-9_]+\.([a-z0-9_.]+|\*)$")
_OBJECT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")

# What the viewer calls each action. An action without a label is shown by its code; apps add theirs with
# `register_action_labels` (the core names no app, so the table holds strings only).
_ACTION_LABELS: dict[str, Any] = {
    "customer.created": gettext_lazy("新建客户"),
    "customer.updated": gettext_lazy("修改客户"),
    "customer.viewed_unmasked": gettext_lazy("查看完整个人信息"),
    "customer.exported": gettext_lazy("导出客户"),
    "customer.imported": gettext_lazy("导入客户"),
    "customer.merged": gettext_lazy("客户被合并"),
    "customer.merge_target": gettext_lazy("合并客户"),
    "customer.contact_added": gettext_lazy("添加联系方式"),
    "customer.contact_removed": gettext_lazy("删除联系方式"),
    "customer.site_added": gettext_lazy("添加地址"),
    "customer.site_updated": gettext_lazy("修改地址"),
    "customer.site_removed": gettext_lazy("删除地址"),
    "customer.dedicated_agent": gettext_lazy("设置专属客服"),
    LOOKUP: gettext_lazy("按个人信息查找"),
    "ticket.exported": gettext_lazy("导出工单"),
    "staff.created": gettext_lazy("新建员工"),
    "staff.updated": gettext_lazy("修改员工"),
    "staff.deactivated": gettext_lazy("停用员工"),
    "staff.reactivated": gettext_lazy("启用员工"),
    "staff.password_reset": gettext_lazy("重置密码"),
    "staff.imported": gettext_lazy("导入员工"),
    "account.password_changed": gettext_lazy("修改自己的密码"),
    "api_token.created": gettext_lazy("创建 API 令牌"),
    "api_token.revoked": gettext_lazy("吊销 API 令牌"),
    "team.created": gettext_lazy("新建班组"),
    "team.updated": gettext_lazy("修改班组"),
    "department.created": gettext_lazy("新建部门"),
    "department.updated": gettext_lazy("修改部门"),
    "skill.created": gettext_lazy("新建技能"),
    "skill.updated": gettext_lazy("修改技能"),
    "category.created": gettext_lazy("新建工单分类"),
    "category.updated": gettext_lazy("修改工单分类"),
    "ticket_type.updated": gettext_lazy("修改工单类型默认值"),
    "sla_policy.create": gettext_lazy("新建 SLA 策略"),
    "sla_policy.update": gettext_lazy("修改 SLA 策略"),
    "calendar.created": gettext_lazy("新建工作日历"),
    "calendar.updated": gettext_lazy("修改工作日历"),
    "calendar.day_set": gettext_lazy("设置节假日或调休"),
    "calendar.day_deleted": gettext_lazy("删除节假日或调休"),
    "calendar.days_imported": gettext_lazy("导入节假日"),
    "webhook_endpoint.created": gettext_lazy("新建 Webhook"),
    "webhook_endpoint.updated": gettext_lazy("修改 Webhook"),
    "webhook_endpoint.secret_rotated": gettext_lazy("更换 Webhook 密钥"),
    "webhook.redelivered": gettext_lazy("重新推送 Webhook"),
    "wecom_robot.created": gettext_lazy("新建企业微信群机器人"),
    "wecom_robot.updated": gettext_lazy("修改企业微信群机器人"),
    "wecom_robot.deleted": gettext_lazy("删除企业微信群机器人"),
    "queue.created": gettext_lazy("新建队列"),
    "queue.updated": gettext_lazy("修改队列"),
    "queue.deleted": gettext_lazy("删除队列"),
    EXPORTED: gettext_lazy("导出审计日志"),
}
# The groups of the action filter: "customer.*" is every action on customers.
_FAMILY_LABELS: dict[str, Any] = {
    "customer": gettext_lazy("客户"),
    "personal_data": gettext_lazy("个人信息查找"),
    "ticket": gettext_lazy("工单"),
    "staff": gettext_lazy("员工"),
    "account": gettext_lazy("账号"),
    "team": gettext_lazy("班组"),
    "department": gettext_lazy("部门"),
    "skill": gettext_lazy("技能"),
    "category": gettext_lazy("工单分类"),
    "sla_policy": gettext_lazy("SLA 策略"),
    "calendar": gettext_lazy("工作日历"),
    "api_token": gettext_lazy("API 令牌"),
    "webhook_endpoint": gettext_lazy("Webhook"),
    "webhook": gettext_lazy("Webhook 推送"),
    "wecom_robot": gettext_lazy("企业微信群机器人"),
    "queue": gettext_lazy("队列"),
    "audit": gettext_lazy("审计日志"),
}
_OBJECT_TYPE_LABELS: dict[str, Any] = {
    "customers.customer": gettext_lazy("客户"),
    "customers.search": gettext_lazy("客户搜索"),
    "customers.export": gettext_lazy("客户导出"),
    "customers.import": gettext_lazy("客户导入"),
    "tickets.ticket": gettext_lazy("工单"),
    "tickets.search": gettext_lazy("工单搜索"),
    "tickets.export": gettext_lazy("工单导出"),
    "accounts.user": gettext_lazy("员工"),
    "accounts.team": gettext_lazy("班组"),
    "accounts.department": gettext_lazy("部门"),
    "accounts.skill": gettext_lazy("技能"),
    "tickets.category": gettext_lazy("工单分类"),
    "tickets.slapolicy": gettext_lazy("SLA 策略"),
    "core.businesscalendar": gettext_lazy("工作日历"),
    "integrations.webhookendpoint": gettext_lazy("Webhook"),
    "notifications.wecomrobot": gettext_lazy("企业微信群机器人"),
    "routing.queue": gettext_lazy("队列"),
    "core.auditlog": gettext_lazy("审计日志"),
}


def register_action_labels(labels: Mapping[str, Any]) -> None:
    """Let an app name its own audit actions in the viewer (e.g. {"account.signed_in": _("登录")})."""
    _ACTION_LABELS.update(labels)


def action_label(action: str) -> str:
    label = _ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def object_type_label(object_type: str) -> str:
    label = _OBJECT_TYPE_LABELS.get(object_type)
    return str(label) if label is not None else object_type


def action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The action filter's options, grouped: each family first ("customer.*"), then its actions."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for action in sorted(_ACTION_LABELS):
        family = action.split(".", 1)[0]
        groups.setdefault(family, [(f"{family}.*", _("全部：%(f)s") % {"f": family_label(family)})])
        groups[family].append((action, action_label(action)))
    return [(family_label(family), options) for family, options in groups.items()]


def family_label(family: str) -> str:
    label = _FAMILY_LABELS.get(family)
    return str(label) if label is not None else family


def object_type_choices() -> list[tuple[str, str]]:
    return [(key, str(label)) for key, label in _OBJECT_TYPE_LABELS.items()]


# --- the filter ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the viewer shows. Empty fields do not filter; `date_to` is exclusive (a date means up to the end
    of that day). `actor`: a user id, or SYSTEM_ACTOR. `action`: an action, or a family ("customer.*").
    `q`: words of the summary, an object id, or a whole phone number / e-mail address (finds the lookups of
    that value by their digest)."""

    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    q: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None

    def to_query(self) -> dict[str, str]:
        out = {name: getattr(self, name) for name in ("actor", "action", "object_type", "object_id", "q")
               if getattr(self, name)}
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                out[name] = timezone.localtime(value).isoformat(timespec="seconds")
        return out

    def query_string(self) -> str:
        return urlencode(self.to_query())

    def with_(self, **changes: Any) -> AuditFilter:
        return replace(self, **changes)


FILTER_PARAMETERS = ("actor", "action", "object_type", "object_id", "q", "date_from", "date_to")


@dataclass(frozen=True)
class FilterProblem:
    parameter: str
    message: str


def _one(params: Mapping[str, Any], name: str) -> str:
    getlist = getattr(params, "getlist", None)
    values = getlist(name) if getlist else [params.get(name)]
    values = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return values[-1] if values else ""


def parse_audit_filter(params: Mapping[str, Any]) -> tuple[AuditFilter, list[FilterProblem]]:
    """An `AuditFilter` from query parameters, and one problem per parameter that could not be used (it is
    then left out). Dates go through the one date parser (kefu.core.dates)."""
    problems: list[FilterProblem] = []
    values: dict[str, Any] = {}
    actor = _one(params, "actor")
    if actor and actor != SYSTEM_ACTOR and not re.fullmatch(r"[0-9]{1,18}", actor):
        problems.append(FilterProblem("actor", _("actor 必须是用户编号或 system")))
        actor = ""
    values["actor"] = actor
    action = _one(params, "action")
    if action and (len(action) > 64 or not _ACTION.match(action)):
        problems.append(FilterProblem("action",
                                      _("action 必须是一个动作（如 customer.exported）或一类（如 customer.*）")))
        action = ""
    values["action"] = action
    object_type = _one(params, "object_type")
    if object_type and (len(object_type) > 64 or not _OBJECT_TYPE.match(object_type)):
        problems.append(FilterProblem("object_type", _("object_type 必须形如 customers.customer")))
        object_type = ""
    values["object_type"] = object_type
    object_id = _one(params, "object_id")
    if len(object_id) > 64:
        problems.append(FilterProblem("object_id", _("object_id 最多 64 个字符")))
        object_id = ""
    values["object_id"] = object_id
    q = _one(params, "q")
    if len(q) > SEARCH_MAX:
        problems.append(FilterProblem("q", _("q 最多 %(n)s 个字符") % {"n": SEARCH_MAX}))
        q = q[:SEARCH_MAX]
    values["q"] = q
    for name in ("date_from", "date_to"):
        try:
            values[name] = parse_optional_moment(_one(params, name), field=name, end=name == "date_to")
        except DateInputError as error:
            problems.append(FilterProblem(name, error.message))
            values[name] = None
    return AuditFilter(**values), problems


def audit_filter_from(params: Mapping[str, Any]) -> AuditFilter:
    """`parse_audit_filter` for the API and the export: an unusable parameter is refused (422), each named."""
    found, problems = parse_audit_filter(params)
    if problems:
        raise ValidationFailed(
            _("查询参数有误：%(p)s") % {"p": "；".join(p.message for p in problems)}, status=422,
            details={"fields": [{"field": p.parameter, "location": "query", "message": p.message}
                                for p in problems]})
    return found


def _search_q(q: str) -> Q:
    cond = text_contains("summary", q) | Q(object_id=q)
    digests = _digests_of(q)
    if digests:
        cond |= Q(action=LOOKUP, data__digest__in=digests)
    return cond


def _digests_of(q: str) -> list[str]:
    """The lookup digests a whole phone number or e-mail address in `q` would have (none for other text)."""
    text = q.strip()
    if "@" in text:
        return [lookup_digest("email", text.lower())]
    digits = re.sub(r"[\s()+\-.]", "", text)
    if digits.isdigit() and len(digits) >= 5:
        found = {digits}
        if digits.startswith("0086"):
            found.add(digits[4:])
        elif digits.startswith("86") and len(digits) == 13:
            found.add(digits[2:])
        return [lookup_digest("phone", d) for d in sorted(found)]
    return []


def audit_filter_q(f: AuditFilter) -> Q:
    cond = Q()
    if f.actor == SYSTEM_ACTOR:
        cond &= Q(actor__isnull=True)
    elif f.actor:
        cond &= Q(actor_id=int(f.actor))
    if f.action.endswith(".*"):
        cond &= Q(action__startswith=f.action[:-1])
    elif f.action:
        cond &= Q(action=f.action)
    if f.object_type:
        cond &= Q(object_type=f.object_type)
    if f.object_id:
        cond &= Q(object_id=f.object_id)
    if f.date_from is not None:
        cond &= Q(created_at__gte=f.date_from)
    if f.date_to is not None:
        cond &= Q(created_at__lt=f.date_to)
    if f.q:
        cond &= _search_q(f.q)
    return cond


def _require(user: Any) -> None:
    if not has_right(user, CoreRight.AUDIT_VIEW):
        raise PermissionDenied(_("你没有查看审计日志的权限"))


def audit_entries(user: Any, f: AuditFilter) -> QuerySet[AuditLog]:
    """The rows matching `f`, with their actor (one query per page). PermissionDenied without audit.view."""
    _require(user)
    return AuditLog.objects.filter(audit_filter_q(f)).select_related("actor")


def audit_page(user: Any, f: AuditFilter, *, limit: int, after: str = "", before: str = "",
               parameter: str = "cursor") -> KeysetPage:
    """One keyset page of `audit_entries`, newest first (one query)."""
    return keyset_page(audit_entries(user, f), limit=limit, after=after, before=before, parameter=parameter)


def audit_entry(user: Any, entry_id: int) -> AuditLog | None:
    """One row, or None."""
    _require(user)
    return AuditLog.objects.select_related("actor").filter(pk=entry_id).first()


def actor_name(entry: AuditLog) -> str:
    if entry.actor is None:
        return _("系统")
    return str(entry.actor)


def summary_text(entry: AuditLog) -> str:
    """The row's summary; for rows whose data says everything (a lookup), written in the reader's language."""
    data = entry.data if isinstance(entry.data, dict) else {}
    if entry.action == LOOKUP and {"kind", "masked", "whole_value"} <= data.keys():
        return lookup_summary(kind=str(data["kind"]), masked=str(data["masked"]), whole=bool(data["whole_value"]))
    return entry.summary


_DATA_LABELS: dict[str, Any] = {
    "fields": gettext_lazy("显示的内容"),
    "unmasked": gettext_lazy("未掩码的内容"),
    "rows": gettext_lazy("条数"),
    "format": gettext_lazy("格式"),
    "filters": gettext_lazy("筛选条件"),
    "changes": gettext_lazy("修改的字段"),
    "kind": gettext_lazy("类型"),
    "masked": gettext_lazy("查找的值（已掩码）"),
    "digest": gettext_lazy("值的密钥摘要"),
    "whole_value": gettext_lazy("完整的值"),
    "matched": gettext_lazy("找到联系方式"),
    "source": gettext_lazy("在哪里查找"),
    "dispatch_id": gettext_lazy("派单"),
    "contact_id": gettext_lazy("联系方式"),
    "site_id": gettext_lazy("地址"),
    "contacts": gettext_lazy("联系方式数"),
    "sites": gettext_lazy("地址数"),
}


def data_items(entry: AuditLog) -> list[tuple[str, str, str]]:
    """The row's data as (key, label, text) for a page: nested values as compact JSON."""
    data = entry.data if isinstance(entry.data, dict) else {"value": entry.data}
    out = []
    for key, value in data.items():
        label = _DATA_LABELS.get(str(key))
        out.append((str(key), str(label) if label is not None else "",
                    value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return out


def entry_dict(entry: AuditLog) -> dict[str, Any]:
    """One row as plain data (the API's shape)."""
    return {
        "id": entry.pk,
        "created_at": entry.created_at.isoformat(),
        "actor_id": entry.actor_id,
        "actor": actor_name(entry),
        "action": entry.action,
        "action_label": action_label(entry.action),
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": summary_text(entry),
        "data": entry.data,
        "ip_address": entry.ip_address,
    }


# --- the export -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditExport:
    rows: int
    filename: str
    content_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _safe(value: Any) -> Any:
    # a text a spreadsheet would run as a formula gets a leading apostrophe
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def _rows(entries: Iterator[AuditLog]) -> Iterator[list[Any]]:
    for e in entries:
        yield [timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"), actor_name(e),
               e.actor.username if e.actor else "", e.action, action_label(e.action), e.object_type,
               e.object_id, summary_text(e), e.ip_address or "", json.dumps(e.data, ensure_ascii=False)]


def audit_export(*, actor: Any, f: AuditFilter, out: IO[bytes], ip: str | None = None) -> AuditExport:
    """The rows matching `f` (newest first, at most EXPORT_MAX_ROWS) as an .xlsx workbook written to `out`.
    The export is itself an audit row ("audit.exported") with the filter and the count."""
    import openpyxl

    _require(actor)
    entries = audit_entries(actor, f).order_by("-created_at", "-id")[:EXPORT_MAX_ROWS].iterator(chunk_size=2000)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(_("审计日志"))
    sheet.append([_("时间"), _("操作人"), _("用户名"), _("动作"), _("动作说明"), _("对象类型"), _("对象编号"),
                  _("摘要"), _("IP 地址"), _("数据")])
    count = 0
    for row in _rows(entries):
        sheet.append([_safe(v) for v in row])
        count += 1
    workbook.save(out)
    audit_record(actor=actor, action=EXPORTED, object_type="core.auditlog",
                 summary=_("导出审计日志 %(n)s 条") % {"n": count}, ip_address=ip,
                 data={"rows": count, "filters": f.to_query()})
    stamp = timezone.localdate().strftime("%Y%m%d")
    return AuditExport(rows=count, filename=f"audit-{stamp}.xlsx")
