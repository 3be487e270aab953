"""Work-order history in words: one sentence per TicketEvent ("张伟 将工单交接给 李娜（原因：…）").

User-supplied parts (names, reasons, results) go through format_html, so they are always escaped.
"""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor_label
from kefu.tickets.choices import Channel, EventKind, Priority, SlaMetric, Status, TicketType
from kefu.tickets.models import Ticket, TicketEvent

_FIELD_LABELS = {
    "subject": Ticket._meta.get_field("subject").verbose_name,
    "description": Ticket._meta.get_field("description").verbose_name,
    "ticket_type": Ticket._meta.get_field("ticket_type").verbose_name,
    "priority": Ticket._meta.get_field("priority").verbose_name,
    "channel": Ticket._meta.get_field("channel").verbose_name,
    "category": Ticket._meta.get_field("category").verbose_name,
    "customer": Ticket._meta.get_field("customer").verbose_name,
}
_CHOICES = {"ticket_type": TicketType, "priority": Priority, "channel": Channel}
_LEVELS = {1: gettext_lazy("组长"), 2: gettext_lazy("客服经理")}


def _label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value or "")


def _value_text(field: str, value: Any) -> str:
    if field in _CHOICES:
        return _label(_CHOICES[field], value)
    if value in (None, ""):
        return _("（空）")
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _when(value: Any) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return date_format(localtime(parsed), "SHORT_DATETIME_FORMAT") if parsed else ""


def _reason(data: dict[str, Any]) -> SafeString:
    """The reason of a change: typed by a person (as typed), or the system's, worded in the reader's language."""
    code = data.get("reason_code")
    if code == "sla_breach":
        metrics = [str(SlaMetric(m).label) for m in data.get("metrics") or [] if m in SlaMetric.values]
        reason = _("SLA 超时：%(metrics)s") % {"metrics": _("、").join(metrics)}
    elif code == "auto_close":
        reason = _("已解决，客户未再回复，系统自动关闭")
    elif code == "customer_replied":
        reason = _("客户回复了")
    else:
        reason = str(data.get("reason") or "").strip()
    return format_html(_("（原因：{}）"), reason) if reason else SafeString("")


def event_sentence(event: TicketEvent) -> SafeString:
    data = event.data or {}
    if event.actor_id and event.actor:
        actor = str(event.actor)
    else:
        actor = system_actor_label(event.actor_system) if event.actor_system else _("系统")
    kind = event.kind
    if kind == EventKind.CREATED:
        return format_html(
            _("{actor} 创建了工单（来源：{channel}）"),
            actor=actor,
            channel=_label(Channel, data.get("channel")),
        )
    if kind == EventKind.ASSIGNED:
        return format_html(
            _("{actor} 将工单分配给 {to}"), actor=actor, to=data.get("to_name") or _("（无人）")
        )
    if kind == EventKind.HANDOVER:
        if not data.get("to_name"):
            return format_html(
                _("{actor} 取消了 {frm} 的处理人身份{reason}"),
                actor=actor,
                frm=data.get("from_name", ""),
                reason=_reason(data),
            )
        return format_html(
            _("{actor} 将工单从 {frm} 交接给 {to}{reason}"),
            actor=actor,
            frm=data.get("from_name", ""),
            to=data.get("to_name", ""),
            reason=_reason(data),
        )
    if kind == EventKind.STATUS:
        return format_html(
            _("{actor} 将状态从“{frm}”改为“{to}”{reason}"),
            actor=actor,
            frm=_label(Status, event.from_status),
            to=_label(Status, event.to_status),
            reason=_reason(data),
        )
    if kind == EventKind.REPLIED:
        return format_html(_("{actor} 回复了客户"), actor=actor)
    if kind == EventKind.NOTED:
        return format_html(_("{actor} 添加了内部备注"), actor=actor)
    if kind == EventKind.CUSTOMER_MESSAGE:
        return SafeString(escape(_("客户发来新消息")))
    if kind == EventKind.EDITED:
        changes = data.get("changes") or {}
        parts = [
            format_html(
                _("{field}：{old} → {new}"),
                field=_FIELD_LABELS.get(name, name),
                old=_value_text(name, change.get("from")),
                new=_value_text(name, change.get("to")),
            )
            for name, change in changes.items()
            if isinstance(change, dict)
        ]
        joined = SafeString("；".join(parts))
        return format_html(_("{actor} 修改了工单：{changes}"), actor=actor, changes=joined)
    if kind == EventKind.DISPATCHED:
        due = _when(data.get("due_at"))
        if due:
            return format_html(
                _("{actor} 派单给 {dept}，要求 {due} 前完成"),
                actor=actor,
                dept=data.get("department_name", ""),
                due=due,
            )
        return format_html(_("{actor} 派单给 {dept}"), actor=actor, dept=data.get("department_name", ""))
    if kind == EventKind.DISPATCH_ACKNOWLEDGED:
        return format_html(_("{actor}（{dept}）已接单"), actor=actor, dept=data.get("department_name", ""))
    if kind == EventKind.DISPATCH_COMPLETED:
        return format_html(
            _("{actor}（{dept}）已完成处理：{result}"),
            actor=actor,
            dept=data.get("department_name", ""),
            result=data.get("result", ""),
        )
    if kind == EventKind.ESCALATED:
        level = _LEVELS.get(int(data.get("level") or 0), str(data.get("level", "")))
        who = actor if event.actor_system or not data.get("system") else _("系统")
        target = format_html(_("（{}）"), data["to_name"]) if data.get("to_name") else SafeString("")
        return format_html(
            _("{actor} 将工单升级到{level}{target}{reason}"),
            actor=who,
            level=level,
            target=target,
            reason=_reason(data),
        )
    if kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACHED):
        metric = _label(SlaMetric, data.get("metric")) if data.get("metric") else ""
        text = _("SLA {metric} 即将超时") if kind == EventKind.SLA_WARNING else _("SLA {metric} 已超时")
        return format_html(text, metric=metric)
    if kind == EventKind.DISPATCH_OVERDUE:
        return format_html(_("派单给 {dept} 已超过要求完成时间 {due}，尚未完成"),
                           dept=data.get("department_name", ""), due=_when(data.get("due_at")))
    if kind == EventKind.ATTACHMENT:
        return format_html(_("{actor} 上传了附件 {name}"), actor=actor, name=data.get("filename", ""))
    return format_html("{} · {}", actor, _label(EventKind, kind))
