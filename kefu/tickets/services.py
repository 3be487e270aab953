"""The one write path for work orders: create, edit, assign, move, reply, dispatch, escalate, attach.

Every service is one transaction, checks the policy, writes the history row itself and announces the
change only after commit.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.clocks.services import clock_new, clock_stop, clocks_create, clocks_save, open_clocks, whole_second
from kefu.core.actors import SYSTEM, SystemActor, is_system, person
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import can, can_see, has_right
from kefu.customers.models import Customer
from kefu.tickets import events, sla
from kefu.tickets.choices import (
    Channel,
    DispatchStatus,
    EventKind,
    MessageKind,
    Priority,
    Status,
    TicketType,
)
from kefu.tickets.events import announce, ticket_event_record
from kefu.tickets.lifecycle import move
from kefu.tickets.models import Attachment, Category, Dispatch, Ticket, TicketMessage
from kefu.tickets.permissions import TicketRight, can_handle_dispatch

ASSIGNABLE_ROLES = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER, Role.ADMIN})
SUBJECT_MAX = 200
BODY_MAX = 20000


def _require(actor: Any, ticket: Ticket | None, action: TicketRight) -> None:
    if ticket is None:
        if not has_right(actor, action):
            raise PermissionDenied(_("您没有权限执行此操作"), details={"action": action.value})
        return
    if not can(actor, action, ticket):
        raise PermissionDenied(_("您没有权限处理这张工单"), details={"action": action.value})


def _clean_text(value: str, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(_("%(label)s不能为空") % {"label": label}, details={"field": field})
    if len(text) > max_length:
        raise ValidationFailed(_("%(label)s不能超过 %(n)s 个字符") % {"label": label, "n": max_length},
                               details={"field": field})
    return text


def _choice(value: str, choices: type, *, field: str, label: str) -> str:
    try:
        return str(choices(value).value)
    except ValueError:
        raise ValidationFailed(_("%(label)s“%(value)s”无效") % {"label": label, "value": value},
                               details={"field": field, "allowed": [c.value for c in choices]}) from None


def _check_assignee(assignee: User | None) -> None:
    if assignee is None:
        return
    if not assignee.is_active or assignee.role not in ASSIGNABLE_ROLES:
        raise ValidationFailed(_("“%(name)s”不能作为处理人") % {"name": assignee}, details={"field": "assignee"})


def _lock(ticket: Ticket) -> Ticket:
    """Re-read the order under a row lock so concurrent writers serialise on it."""
    try:
        return Ticket.objects.select_for_update().get(pk=ticket.pk)
    except Ticket.DoesNotExist:
        raise NotFound(_("工单不存在")) from None


def _check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict(
            _("工单已被他人修改（当前版本 %(current)s，您提交的是 %(sent)s），请刷新后重试")
            % {"current": ticket.version, "sent": expected_version},
            code="stale_version",
            details={"current_version": ticket.version, "ticket_id": ticket.pk},
        )


def _bump(ticket: Ticket, *update_fields: str) -> None:
    ticket.version += 1
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=[*update_fields, "version", "updated_at"])


@transaction.atomic
def ticket_create(*, actor: User, subject: str, description: str = "", ticket_type: str = TicketType.INQUIRY,
                  priority: str = Priority.NORMAL, channel: str = Channel.PHONE, customer: Customer | None = None,
                  category: Category | None = None, assignee: User | None = None, team: Team | None = None,
                  external_ref: str = "", at: datetime | None = None) -> Ticket:
    """Open a work order. The creator becomes its first-contact owner (首问负责人) and stays so until it is
    resolved, whoever it is handed to. A system actor (a channel's rule, a message left outside hours) opens
    orders with no first-contact owner: the agent who takes it on becomes one."""
    if not is_system(actor):
        _require(actor, None, TicketRight.CREATE)
    now = at or timezone.now()
    subject = _clean_text(subject, field="subject", label=_("标题"), max_length=SUBJECT_MAX)
    description = _clean_text(description, field="description", label=_("描述"), max_length=BODY_MAX,
                              required=False)
    ticket_type = _choice(ticket_type, TicketType, field="ticket_type", label=_("工单类型"))
    priority = _choice(priority, Priority, field="priority", label=_("优先级"))
    channel = _choice(channel, Channel, field="channel", label=_("来源渠道"))
    if customer is not None and customer.merged_into_id is not None:
        raise ValidationFailed(_("该客户已合并到其他档案，请选择合并后的客户"), details={"field": "customer"})
    if category is not None and (not category.is_active or
                                 (category.ticket_type and category.ticket_type != ticket_type)):
        raise ValidationFailed(_("分类“%(c)s”不适用于此工单类型") % {"c": category}, details={"field": "category"})
    _check_assignee(assignee)
    if customer is not None and customer.is_vip and priority == Priority.NORMAL:
        priority = Priority.HIGH  # VIPs get higher priority by default (PRODUCT §2.1)
    ticket = Ticket.objects.create(
        subject=subject, description=description, ticket_type=ticket_type, priority=priority, channel=channel,
        customer=customer, category=category, assignee=assignee,
        team=team or (assignee.team if assignee else None) or getattr(actor, "team", None),
        first_contact_owner=person(actor), created_by=person(actor), external_ref=external_ref[:100],
        status=Status.ASSIGNED if assignee else Status.NEW,
    )
    # The number comes from the id, so it is written after the insert, together with the SLA fields.
    ticket.created_at, ticket.number = now, f"GD{now:%Y%m%d}{ticket.pk:07d}"
    ticket_event_record(ticket=ticket, kind=EventKind.CREATED, actor=actor, to_status=ticket.status,
                        data={"channel": channel, "type": ticket_type, "priority": priority})
    if assignee:
        ticket_event_record(ticket=ticket, kind=EventKind.ASSIGNED, actor=actor,
                            data={"to": assignee.pk, "to_name": str(assignee)})
    sla.sla_attach(ticket=ticket, at=now, new=True)
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=ticket.created_at, number=ticket.number, sla_policy=ticket.sla_policy,
        sla_standing=ticket.sla_standing, sla_due_at=ticket.sla_due_at,
    )
    announce(events.TICKET_CREATED, ticket, actor=actor, departments=())
    return ticket


@dataclass(frozen=True)
class TicketChanges:
    """Editable fields of a work order; `None` means unchanged."""

    subject: str | None = None
    description: str | None = None
    ticket_type: str | None = None
    priority: str | None = None
    channel: str | None = None
    category: Category | None = None
    clear_category: bool = False
    customer: Customer | None = None

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "clear_category" and getattr(self, f.name) is not None}


@transaction.atomic
def ticket_update(*, actor: User, ticket: Ticket, expected_version: int | None, changes: TicketChanges) -> Ticket:
    """Edit a work order's fields. A stale `expected_version` gets a Conflict carrying the current version."""
    _require(actor, ticket, TicketRight.EDIT)
    ticket = _lock(ticket)
    _check_version(ticket, expected_version)
    updates: dict[str, Any] = {}
    given = changes.given()
    if "subject" in given:
        updates["subject"] = _clean_text(given["subject"], field="subject", label=_("标题"), max_length=SUBJECT_MAX)
    if "description" in given:
        updates["description"] = _clean_text(given["description"], field="description", label=_("描述"),
                                             max_length=BODY_MAX, required=False)
    if "ticket_type" in given:
        updates["ticket_type"] = _choice(given["ticket_type"], TicketType, field="ticket_type", label=_("工单类型"))
    if "priority" in given:
        updates["priority"] = _choice(given["priority"], Priority, field="priority", label=_("优先级"))
    if "channel" in given:
        updates["channel"] = _choice(given["channel"], Channel, field="channel", label=_("来源渠道"))
    if "customer" in given:
        if given["customer"].merged_into_id is not None:
            raise ValidationFailed(_("该客户已合并到其他档案"), details={"field": "customer"})
        updates["customer"] = given["customer"]
    if changes.clear_category:
        updates["category"] = None
    elif "category" in given:
        updates["category"] = given["category"]
    category = updates.get("category", ticket.category)
    if category is not None and category.ticket_type and category.ticket_type != updates.get(
            "ticket_type", ticket.ticket_type):
        raise ValidationFailed(_("分类“%(c)s”不适用于此工单类型") % {"c": category}, details={"field": "category"})
    changed = {}
    for name, value in updates.items():
        old = getattr(ticket, name)
        if old != value:
            changed[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(ticket, name, value)
    if not changed:
        return ticket
    _bump(ticket, *changed.keys())
    ticket_event_record(ticket=ticket, kind=EventKind.EDITED, actor=actor, data={"changes": changed})
    if set(changed) & {"ticket_type", "priority", "channel", "customer"}:
        sla.sla_reevaluate(ticket=ticket, at=timezone.now())
    announce(events.TICKET_UPDATED, ticket, actor=actor, data={"changes": sorted(changed)})
    return ticket


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@transaction.atomic
def ticket_assign(*, actor: User, ticket: Ticket, assignee: User | None, expected_version: int | None = None,
                  reason: str = "") -> Ticket:
    """Hand the order to `assignee` (交接). The first-contact owner does not change."""
    _require(actor, ticket, TicketRight.ASSIGN)
    ticket = _lock(ticket)
    _check_version(ticket, expected_version)
    _check_assignee(assignee)
    if ticket.status == Status.CLOSED:
        raise Conflict(_("已关闭的工单不能再分配"), code="ticket_closed")
    previous = ticket.assignee
    previous_team_id = ticket.team_id
    if previous == assignee:
        return ticket
    ticket.assignee = assignee
    fields_changed = ["assignee"]
    if ticket.first_contact_owner_id is None and assignee is not None:
        # an order a channel opened by itself: the first person to take it on owns it from now on
        ticket.first_contact_owner = assignee
        fields_changed.append("first_contact_owner")
    if assignee is not None and assignee.team_id and assignee.team_id != ticket.team_id:
        ticket.team_id = assignee.team_id
        fields_changed.append("team")
    old_status = ticket.status
    if assignee is not None and ticket.status == Status.NEW:
        fields_changed += move(ticket, Status.ASSIGNED, at=timezone.now())
    _bump(ticket, *fields_changed)
    ticket_event_record(
        ticket=ticket, kind=EventKind.HANDOVER if previous else EventKind.ASSIGNED, actor=actor,
        from_status=old_status, to_status=ticket.status,
        data={"from": previous.pk if previous else None, "from_name": str(previous) if previous else "",
              "to": assignee.pk if assignee else None, "to_name": str(assignee) if assignee else "",
              "reason": reason[:500]},
    )
    announce(events.TICKET_ASSIGNED, ticket, actor=actor,
             data={"from_id": previous.pk if previous else None, "to_id": assignee.pk if assignee else None,
                   "handover": previous is not None, "previous_team_id": previous_team_id},
             users=(previous.pk if previous else None,), teams=(previous_team_id,))
    return ticket


@transaction.atomic
def ticket_transition(*, actor: User | SystemActor, ticket: Ticket, to_status: str,
                      expected_version: int | None = None, reason: str = "", reason_code: str = "",
                      at: datetime | None = None) -> Ticket:
    """Move the order through its lifecycle (see lifecycle.ALLOWED); a refused move says why. A system actor
    gives `reason_code` instead of a reason: the history words it in the reader's language."""
    _require(actor, ticket, TicketRight.TRANSITION)
    now = at or timezone.now()
    ticket = _lock(ticket)
    _check_version(ticket, expected_version)
    old = ticket.status
    changed = move(ticket, to_status, at=now)
    _bump(ticket, *changed)
    data: dict[str, Any] = {"reason": reason[:500]} if reason else {}
    if reason_code:
        data["reason_code"] = reason_code
    ticket_event_record(ticket=ticket, kind=EventKind.STATUS, actor=actor, from_status=old, to_status=to_status,
                        data=data)
    sla.sla_on_status(ticket=ticket, old=old, new=to_status, at=now)
    announce(events.TICKET_STATUS_CHANGED, ticket, actor=actor, data={"from": old, "to": to_status})
    return ticket


def _message(*, ticket: Ticket, kind: str, author: User | None, body: str, channel: str = "") -> TicketMessage:
    body = _clean_text(body, field="body", label=_("内容"), max_length=BODY_MAX)
    return TicketMessage.objects.create(ticket=ticket, kind=kind, author=author, body=body, channel=channel)


@transaction.atomic
def ticket_reply(*, actor: User, ticket: Ticket, body: str, at: datetime | None = None) -> TicketMessage:
    """A reply to the customer. The first reply is the first response of the SLA."""
    _require(actor, ticket, TicketRight.REPLY)
    now = at or timezone.now()
    ticket = _lock(ticket)
    if ticket.status == Status.CLOSED:
        raise Conflict(_("工单已关闭，请先重开再回复"), code="ticket_closed")
    message = _message(ticket=ticket, kind=MessageKind.REPLY, author=actor, body=body, channel=ticket.channel)
    changed = []
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        changed.append("first_responded_at")
    _bump(ticket, *changed)
    ticket_event_record(ticket=ticket, kind=EventKind.REPLIED, actor=actor, data={"message": message.pk})
    sla.sla_on_reply(ticket=ticket, at=now)
    announce(events.TICKET_REPLIED, ticket, actor=actor, data={"message_id": message.pk})
    return message


@transaction.atomic
def ticket_add_note(*, actor: User, ticket: Ticket, body: str) -> TicketMessage:
    """An internal note: seen by staff only, never sent to the customer."""
    _require(actor, ticket, TicketRight.NOTE)
    ticket = _lock(ticket)
    message = _message(ticket=ticket, kind=MessageKind.NOTE, author=actor, body=body)
    _bump(ticket)
    mentioned = mentions_in(message.body, ticket=ticket, author=actor)
    ticket_event_record(ticket=ticket, kind=EventKind.NOTED, actor=actor,
                        data={"message": message.pk, "mentions": mentioned} if mentioned else {"message": message.pk})
    announce(events.TICKET_NOTED, ticket, actor=actor, data={"message_id": message.pk, "mentions": mentioned},
             users=tuple(mentioned))
    return message


@transaction.atomic
def ticket_customer_message(*, ticket: Ticket, body: str, channel: str,
                            at: datetime | None = None) -> TicketMessage:
    """A message from the customer on an existing order; a waiting order goes back to work."""
    now = at or timezone.now()
    ticket = _lock(ticket)
    message = _message(ticket=ticket, kind=MessageKind.CUSTOMER, author=None, body=body, channel=channel)
    _bump(ticket)
    ticket_event_record(ticket=ticket, kind=EventKind.CUSTOMER_MESSAGE, data={"message": message.pk})
    sla.sla_on_customer_message(ticket=ticket, at=now)
    if ticket.status == Status.WAITING_CUSTOMER:
        ticket_transition(actor=SYSTEM, ticket=ticket, to_status=Status.IN_PROGRESS,
                          reason_code="customer_replied", at=now)
    elif ticket.status in (Status.RESOLVED, Status.CLOSED):
        ticket_transition(actor=SYSTEM, ticket=ticket, to_status=Status.REOPENED,
                          reason_code="customer_replied", at=now)
    announce(events.TICKET_CUSTOMER_MESSAGE, ticket, data={"message_id": message.pk})
    return message


@transaction.atomic
def ticket_dispatch(*, actor: User, ticket: Ticket, department: Department, instructions: str = "",
                    due_at: datetime | None = None) -> Dispatch:
    """Send work to another department (派单). The first-contact owner keeps the order."""
    _require(actor, ticket, TicketRight.DISPATCH)
    ticket = _lock(ticket)
    if ticket.status in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(_("已解决或已关闭的工单不能派单"), code="ticket_closed")
    if department.is_service_center:
        raise ValidationFailed(_("不能派单给客服中心本身，请改为分配处理人"), details={"field": "department"})
    if due_at is not None and due_at <= timezone.now():
        raise ValidationFailed(_("要求完成时间必须晚于现在"), details={"field": "due_at"})
    if ticket.dispatches.filter(department=department,
                                status__in=[DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED]).exists():
        raise Conflict(_("已派单给“%(d)s”且尚未完成") % {"d": department}, code="already_dispatched",
                       details={"field": "department"})
    instructions = _clean_text(instructions, field="instructions", label=_("派单说明"), max_length=BODY_MAX,
                               required=False)
    business_target = None
    if due_at is None and department.default_due_seconds and department.calendar_id:
        # The department's default: so many business seconds on its own calendar (nights, weekends and
        # holidays do not count).
        from kefu.core.calendar_specs import spec_from_model
        from kefu.core.calendars import add_business_seconds

        business_target = department.default_due_seconds
        due_at = add_business_seconds(spec_from_model(department.calendar), timezone.now(), business_target)
    dispatch = Dispatch.objects.create(ticket=ticket, department=department, instructions=instructions,
                                       dispatched_by=actor, due_at=due_at)
    now = timezone.now()
    if ticket.assignee_id is None:
        ticket.assignee = actor  # the dispatcher is accountable until someone else takes it
        changed = ["assignee"]
        if ticket.status in (Status.NEW, Status.REOPENED):
            changed += move(ticket, Status.ASSIGNED, at=now)
        _bump(ticket, *changed)
    else:
        _bump(ticket)
    ticket_event_record(ticket=ticket, kind=EventKind.DISPATCHED, actor=actor,
                        data={"dispatch": dispatch.pk, "department": department.pk,
                              "department_name": department.name,
                              "due_at": due_at.isoformat() if due_at else None})
    if ticket.status != Status.WAITING_DEPARTMENT:
        previous = ticket.status
        _bump(ticket, *move(ticket, Status.WAITING_DEPARTMENT, at=now))
        ticket_event_record(ticket=ticket, kind=EventKind.STATUS, actor=actor, from_status=previous,
                            to_status=Status.WAITING_DEPARTMENT)
        sla.sla_on_status(ticket=ticket, old=previous, new=Status.WAITING_DEPARTMENT, at=now)
    dispatch_clock_start(dispatch=dispatch, ticket=ticket, at=dispatch.dispatched_at,
                         business_target=business_target, calendar=department.calendar if business_target else None)
    announce(events.TICKET_DISPATCHED, ticket, actor=actor, data=_dispatch_data(dispatch, department))
    return dispatch


def _dispatch_data(dispatch: Dispatch, department: Department) -> dict[str, Any]:
    return {"dispatch_id": dispatch.pk, "department_id": department.pk, "department": department.code,
            "due_at": dispatch.due_at}


DISPATCH_DUE = "dispatch_due"  # the metric of a dispatch's due-time clock


def dispatch_clock_start(*, dispatch: Dispatch, ticket: Ticket, at: datetime, business_target: int | None = None,
                         calendar: Any = None) -> None:
    """A dispatch with a due time gets a clock: the sweep announces it overdue (→ the department is alerted).
    A due time the dispatcher chose is a moment, so its clock runs on the wall clock; the department's default
    runs on the department's calendar."""
    if dispatch.due_at is None:
        return
    if business_target is not None and calendar is not None:
        clocks_create([clock_new(subject=dispatch, metric=DISPATCH_DUE, target_seconds=business_target,
                                 calendar=calendar, at=at, origin="dispatch_default")])
        return
    at = whole_second(at)
    target = max(0, math.ceil((dispatch.due_at - at).total_seconds()))  # whole seconds, never before due
    clocks_create([clock_new(subject=dispatch, metric=DISPATCH_DUE, target_seconds=target, calendar=None, at=at,
                             origin="dispatch")])


def dispatch_clock_stop(*, dispatch: Dispatch, at: datetime) -> None:
    clocks = open_clocks(dispatch, (DISPATCH_DUE,))
    for clock in clocks:
        clock_stop(clock, at, subject=dispatch)
    clocks_save(clocks)


MENTION = re.compile(r"@([\w.\-\u4e00-\u9fff]{1,40})")


def mentions_in(body: str, *, ticket: Ticket, author: Any) -> list[int]:
    """Staff @mentioned in a note (by user name, employee number or display name) who may see the order."""
    names = set(MENTION.findall(body or ""))
    if not names:
        return []
    people = User.objects.filter(is_active=True).filter(
        Q(username__in=names) | Q(employee_no__in=names) | Q(display_name__in=names)).exclude(pk=author.pk)
    return sorted(p.pk for p in people[:20] if can_see(p, ticket))


def _lock_dispatch(dispatch: Dispatch) -> Dispatch:
    return Dispatch.objects.select_for_update().select_related("ticket", "department").get(pk=dispatch.pk)


@transaction.atomic
def dispatch_acknowledge(*, actor: User, dispatch: Dispatch) -> Dispatch:
    """The receiving department takes the dispatched work (接单). Claimed atomically: only one person can."""
    if not can_handle_dispatch(actor, dispatch):
        raise PermissionDenied(_("只有接单部门的人员可以接单"))
    claimed = Dispatch.objects.filter(pk=dispatch.pk, status=DispatchStatus.PENDING).update(
        status=DispatchStatus.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=timezone.now())
    dispatch = _lock_dispatch(dispatch)
    if not claimed:
        raise Conflict(_("该派单已被%(who)s处理（%(status)s）")
                       % {"who": dispatch.acknowledged_by or _("他人"), "status": dispatch.get_status_display()},
                       code="dispatch_taken", details={"status": dispatch.status})
    ticket = _lock(dispatch.ticket)
    _bump(ticket)
    ticket_event_record(ticket=ticket, kind=EventKind.DISPATCH_ACKNOWLEDGED, actor=actor,
                        data={"dispatch": dispatch.pk, "department_name": dispatch.department.name})
    announce(events.TICKET_DISPATCH_ACKNOWLEDGED, ticket, actor=actor,
             data=_dispatch_data(dispatch, dispatch.department))
    return dispatch


@transaction.atomic
def dispatch_complete(*, actor: User, dispatch: Dispatch, result: str) -> Dispatch:
    """The department reports its work done; the order returns to its owner to confirm with the customer."""
    if not can_handle_dispatch(actor, dispatch):
        raise PermissionDenied(_("只有接单部门的人员可以反馈结果"))
    dispatch = _lock_dispatch(dispatch)
    if dispatch.status != DispatchStatus.ACKNOWLEDGED:
        raise Conflict(_("请先接单，再反馈处理结果") if dispatch.status == DispatchStatus.PENDING
                       else _("该派单已经结束"), code="dispatch_not_open", details={"status": dispatch.status})
    dispatch.result = _clean_text(result, field="result", label=_("处理结果"), max_length=BODY_MAX)
    dispatch.status = DispatchStatus.DONE
    dispatch.completed_by = actor
    dispatch.completed_at = timezone.now()
    dispatch.save(update_fields=["result", "status", "completed_by", "completed_at"])
    ticket = _lock(dispatch.ticket)
    _bump(ticket)
    ticket_event_record(ticket=ticket, kind=EventKind.DISPATCH_COMPLETED, actor=actor,
                        data={"dispatch": dispatch.pk, "department_name": dispatch.department.name,
                              "result": dispatch.result[:500]})
    sla.sla_on_dispatch_complete(ticket=ticket, at=dispatch.completed_at)
    still_open = ticket.dispatches.filter(status__in=[DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED])
    if ticket.status == Status.WAITING_DEPARTMENT and not still_open.exists():
        _bump(ticket, *move(ticket, Status.IN_PROGRESS, at=dispatch.completed_at))
        ticket_event_record(ticket=ticket, kind=EventKind.STATUS, actor=actor,
                            from_status=Status.WAITING_DEPARTMENT, to_status=Status.IN_PROGRESS)
        sla.sla_on_status(ticket=ticket, old=Status.WAITING_DEPARTMENT, new=Status.IN_PROGRESS,
                          at=dispatch.completed_at)
    dispatch_clock_stop(dispatch=dispatch, at=dispatch.completed_at)
    announce(events.TICKET_DISPATCH_COMPLETED, ticket, actor=actor,
             data=_dispatch_data(dispatch, dispatch.department), departments=(dispatch.department_id,))
    return dispatch


@transaction.atomic
def ticket_escalate(*, actor: User | SystemActor, ticket: Ticket, reason: str = "",
                    breached_metrics: list[str] | None = None) -> Ticket:
    """Escalate one level (逐级汇报): 1 = team lead, 2 = manager. The system escalates on SLA breach, giving
    `breached_metrics` instead of a reason: the history words it in the reader's language."""
    system = is_system(actor)
    _require(actor, ticket, TicketRight.ESCALATE)
    ticket = _lock(ticket)
    if ticket.escalation_level >= 2:
        raise Conflict(_("工单已升级到客服经理，不能再升级"), code="max_escalation")
    cause: dict[str, Any] = {}
    if breached_metrics is not None:
        reason, cause = "", {"reason_code": "sla_breach", "metrics": list(breached_metrics)}
    else:
        reason = _clean_text(reason, field="reason", label=_("升级原因"), max_length=500)
    Ticket.objects.filter(pk=ticket.pk).update(escalation_level=F("escalation_level") + 1)
    ticket.refresh_from_db(fields=["escalation_level"])
    if ticket.priority in (Priority.LOW, Priority.NORMAL):
        ticket.priority = Priority.HIGH
        _bump(ticket, "priority")
    else:
        _bump(ticket)
    to_user = _escalation_target(ticket)
    ticket_event_record(ticket=ticket, kind=EventKind.ESCALATED, actor=actor,
                        data={"level": ticket.escalation_level, "reason": reason,
                              "to": to_user.pk if to_user else None, "to_name": str(to_user) if to_user else "",
                              "system": system, **cause})
    announce(events.TICKET_ESCALATED, ticket, actor=actor,
             data={"level": ticket.escalation_level, "to_id": to_user.pk if to_user else None,
                   "reason_code": "sla_breach" if breached_metrics is not None else "manual"},
             users=(to_user.pk if to_user else None,))
    return ticket


def _escalation_target(ticket: Ticket) -> User | None:
    if ticket.escalation_level == 1 and ticket.team_id:
        lead = Team.objects.filter(pk=ticket.team_id).values_list("lead", flat=True).first()
        if lead:
            return User.objects.filter(pk=lead).first()
    return User.objects.filter(role=Role.MANAGER, is_active=True).order_by("pk").first()


@transaction.atomic
def attachment_add(*, actor: User, ticket: Ticket, upload: UploadedFile,
                   message: TicketMessage | None = None) -> Attachment:
    """Attach a file within the configured size and type limits."""
    _require(actor, ticket, TicketRight.NOTE)
    name = Path(upload.name or "").name[:200]
    suffix = Path(name).suffix.lower()
    allowed = settings.KEFU_ATTACHMENT_TYPES
    if not name or suffix not in allowed:
        raise ValidationFailed(_("不支持的文件类型“%(s)s”，允许：%(a)s")
                               % {"s": suffix or name, "a": " ".join(allowed)}, details={"field": "file"})
    if upload.size is None or upload.size > settings.KEFU_ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(_("文件超过 %(mb)s MB 的上限")
                               % {"mb": settings.KEFU_ATTACHMENT_MAX_BYTES // (1024 * 1024)},
                               details={"field": "file"})
    if upload.size == 0:
        raise ValidationFailed(_("文件是空的"), details={"field": "file"})
    attachment = Attachment(ticket=ticket, message=message, filename=name, content_type=allowed[suffix],
                            size=upload.size, uploaded_by=actor, storage_name=secrets.token_hex(16) + suffix)
    attachment.file.save(attachment.storage_name, upload, save=False)
    attachment.save()
    ticket_event_record(ticket=ticket, kind=EventKind.ATTACHMENT, actor=actor,
                        data={"attachment": attachment.pk, "filename": name, "size": upload.size})
    return attachment


ORPHAN_GRACE = timedelta(hours=1)


def attachment_purge_orphans(*, now: datetime | None = None) -> int:
    """Delete stored files no attachment row refers to (periodic task). Returns how many were removed.

    The file of an attachment is written before its row commits, so a rolled-back upload, or an order
    deleted with its attachments, leaves a file behind. Files younger than ORPHAN_GRACE are kept: their
    upload may still be committing."""
    storage = Attachment._meta.get_field("file").storage
    cutoff = (now or timezone.now()) - ORPHAN_GRACE
    removed = 0
    try:
        folders, _files = storage.listdir("attachments")
    except FileNotFoundError:
        return 0
    for folder in folders:
        if not folder.isdigit():
            continue
        _dirs, names = storage.listdir(f"attachments/{folder}")
        kept = set(Attachment.objects.filter(ticket_id=int(folder)).values_list("storage_name", flat=True))
        for name in names:
            path = f"attachments/{folder}/{name}"
            if name not in kept and storage.get_modified_time(path) < cutoff:
                storage.delete(path)
                removed += 1
    return removed
