"""Rights on work orders and dispatches, and which orders each person may see (registered with the policy)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from kefu.accounts.choices import FRONT_LINE, LEADS, Role
from kefu.core.policy import can_see, has_right, register_rights, register_scope, role_of


class TicketRight(StrEnum):
    VIEW = "ticket.view"
    VIEW_ALL = "ticket.view_all"
    CREATE = "ticket.create"
    REPLY = "ticket.reply"
    NOTE = "ticket.note"
    TRANSITION = "ticket.transition"
    ASSIGN = "ticket.assign"
    DISPATCH = "ticket.dispatch"
    ESCALATE = "ticket.escalate"
    EDIT = "ticket.edit"
    WORKSPACE = "ticket.workspace"  # the service workspace: home, lists, saved views, SLA counters
    SUPERVISE_TEAM = "ticket.supervise_team"  # a team's home page: its agents' workload, unassigned orders
    EXPORT = "ticket.export"  # export a list of work orders (Excel / CSV)
    DISPATCH_ACKNOWLEDGE = "dispatch.acknowledge"
    DISPATCH_VIEW_ANY = "dispatch.view_any_department"  # look at any department's queue
    SLA_MANAGE = "sla.manage"
    CATEGORY_MANAGE = "category.manage"


ALL = set(Role)
SUPERVISORS = {Role.SHIFT_LEAD, Role.QA, Role.MANAGER, Role.ADMIN}


def register() -> None:
    """Called when the app is ready."""
    from kefu.tickets.models import Dispatch, Ticket

    register_rights({
        TicketRight.VIEW: ALL,
        TicketRight.VIEW_ALL: SUPERVISORS,
        TicketRight.CREATE: FRONT_LINE,
        TicketRight.REPLY: FRONT_LINE,
        TicketRight.NOTE: ALL,
        TicketRight.TRANSITION: FRONT_LINE,
        TicketRight.ASSIGN: FRONT_LINE,
        TicketRight.DISPATCH: FRONT_LINE,
        TicketRight.ESCALATE: FRONT_LINE,
        TicketRight.EDIT: FRONT_LINE,
        TicketRight.WORKSPACE: FRONT_LINE | {Role.QA},
        TicketRight.SUPERVISE_TEAM: {Role.TEAM_LEAD},
        TicketRight.EXPORT: LEADS,
        TicketRight.DISPATCH_ACKNOWLEDGE: {Role.DEPARTMENT, Role.MANAGER, Role.ADMIN},
        TicketRight.DISPATCH_VIEW_ANY: {Role.MANAGER, Role.ADMIN},
        TicketRight.SLA_MANAGE: {Role.MANAGER, Role.ADMIN},
        TicketRight.CATEGORY_MANAGE: {Role.MANAGER, Role.ADMIN},
    })
    register_scope(Ticket, visible_to=visible_tickets, sees_alike=_tickets_alike, sees=_sees_ticket)
    register_scope(Dispatch, visible_to=visible_dispatches, allows=_dispatch_allows)


def visible_tickets(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Supervisors, QA, managers and admins see all; team leads and agents see their own (owner, first-contact
    owner) and their team's; department staff see the orders dispatched to their department."""
    if has_right(user, TicketRight.VIEW_ALL):
        return queryset
    if not has_right(user, TicketRight.VIEW):
        return queryset.none()
    if not has_right(user, TicketRight.WORKSPACE):  # department staff
        if not user.department_id:
            return queryset.none()
        return queryset.filter(dispatches__department_id=user.department_id).distinct()
    mine = Q(assignee_id=user.pk) | Q(first_contact_owner_id=user.pk)
    if user.team_id:
        mine |= Q(team_id=user.team_id)
    return queryset.filter(mine)


def _sees_ticket(user: Any, ticket: Any) -> bool | None:
    """visible_tickets for one loaded order, without a query (department staff: None, the database decides)."""
    if has_right(user, TicketRight.VIEW_ALL):
        return True
    if not has_right(user, TicketRight.VIEW):
        return False
    if not has_right(user, TicketRight.WORKSPACE):
        return None if user.department_id else False
    return user.pk in (ticket.assignee_id, ticket.first_contact_owner_id) or bool(
        user.team_id and user.team_id == ticket.team_id)


def _tickets_alike(user: Any, ticket: Any) -> tuple[Any, ...]:
    """What visible_tickets decides by for one order: the role, whether the person owns it, whether it is their
    team's, and their department (dispatches)."""
    owns = user.pk in (ticket.assignee_id, ticket.first_contact_owner_id)
    same_team = ticket.team_id is not None and user.team_id == ticket.team_id
    return (role_of(user), owns, same_team, getattr(user, "department_id", None))


def visible_dispatches(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    from kefu.tickets.models import Ticket

    if has_right(user, TicketRight.VIEW_ALL):
        return queryset
    return queryset.filter(ticket__in=visible_tickets(user, Ticket.objects.all()).values("pk"))


def _dispatch_allows(user: Any, right: str, dispatch: Any) -> bool:
    if not can_see(user, dispatch.ticket):
        return False
    if right == TicketRight.DISPATCH_ACKNOWLEDGE:
        return can_handle_dispatch(user, dispatch)
    return True


def can_handle_dispatch(user: Any, dispatch: Any) -> bool:
    """Acknowledge and report back on a dispatch: its department's staff (managers and admins on behalf)."""
    if not has_right(user, TicketRight.DISPATCH_ACKNOWLEDGE):
        return False
    if has_right(user, TicketRight.DISPATCH_VIEW_ANY):
        return True
    return bool(getattr(user, "department_id", None)) and dispatch.department_id == user.department_id

