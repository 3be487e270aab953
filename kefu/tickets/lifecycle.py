"""The work-order lifecycle: which status may follow which, why a move is refused, and the one function that
changes a status (`move`). Services call `move`; nothing else writes `Ticket.status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from kefu.core.errors import Conflict
from kefu.tickets.choices import Status

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.ASSIGNED: frozenset({Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT,
                                Status.RESOLVED}),
    Status.IN_PROGRESS: frozenset({Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT, Status.RESOLVED}),
    Status.WAITING_CUSTOMER: frozenset({Status.IN_PROGRESS, Status.WAITING_DEPARTMENT, Status.RESOLVED,
                                        Status.CLOSED}),
    Status.WAITING_DEPARTMENT: frozenset({Status.IN_PROGRESS, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER,
                                Status.WAITING_DEPARTMENT, Status.RESOLVED}),
}

# Statuses that mean someone is working on the order: an owner is needed.
NEEDS_ASSIGNEE = frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT})


def allowed_next(status: str) -> list[Status]:
    """The statuses an order in `status` may move to, in lifecycle order."""
    following = ALLOWED[Status(status)]
    return [s for s in Status if s in following]


def check_transition(ticket: Any, to_status: str, *, has_open_dispatch: bool | None = None) -> None:
    """Raise Conflict with the reason when `ticket` may not move to `to_status`. `has_open_dispatch`, when the
    caller knows it, saves the query for it."""
    current = Status(ticket.status)
    try:
        target = Status(to_status)
    except ValueError:
        raise Conflict(_("未知的状态“%(status)s”") % {"status": to_status}, code="unknown_status",
                       details={"field": "status"}) from None
    if target == current:
        raise Conflict(_("工单已经是“%(status)s”状态") % {"status": current.label}, code="transition_refused",
                       details={"from": current.value, "to": target.value})
    if target not in ALLOWED[current]:
        raise Conflict(
            _("工单不能从“%(from)s”变为“%(to)s”；允许的下一步：%(next)s")
            % {"from": current.label, "to": target.label,
               "next": "、".join(str(s.label) for s in allowed_next(current)) or _("无")},
            code="transition_refused",
            details={"from": current.value, "to": target.value,
                     "allowed": [s.value for s in allowed_next(current)]},
        )
    if target in NEEDS_ASSIGNEE and ticket.assignee_id is None:
        raise Conflict(_("请先指定处理人，再将工单设为“%(to)s”") % {"to": target.label},
                       code="assignee_required", details={"field": "assignee", "to": target.value})
    if has_open_dispatch is None and target == Status.WAITING_DEPARTMENT:
        has_open_dispatch = ticket.dispatches.filter(status__in=["pending", "acknowledged"]).exists()
    if target == Status.WAITING_DEPARTMENT and not has_open_dispatch:
        raise Conflict(_("没有未完成的派单，不能设为“等待部门”"), code="no_open_dispatch",
                       details={"to": target.value})


def move(ticket: Any, to_status: str, *, at: datetime) -> list[str]:
    """Change the order's status after checking the move, with the times it sets (resolved, closed, reopened);
    returns the changed field names for the caller's save (the caller writes the history row)."""
    check_transition(ticket, to_status)
    ticket.status = to_status
    changed = ["status"]
    if to_status == Status.RESOLVED:
        ticket.resolved_at = at
        changed.append("resolved_at")
    elif to_status == Status.CLOSED:
        ticket.closed_at = at
        changed.append("closed_at")
    elif to_status == Status.REOPENED:
        ticket.reopen_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None
        changed += ["reopen_count", "resolved_at", "closed_at"]
    return changed
