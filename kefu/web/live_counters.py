"""The counters a live push carries, per scope: open work orders, due soon (SLA warning) and breached — the
same definitions as the lists the counters link to."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from kefu.tickets.choices import OPEN_STATUSES, DispatchStatus, SlaStanding
from kefu.tickets.models import Dispatch, Ticket

_OPEN = Q(status__in=list(OPEN_STATUSES))


def _ticket_counts(condition: Q) -> dict[str, int]:
    row = Ticket.objects.filter(_OPEN & condition).aggregate(
        open=Count("pk"),
        warning=Count("pk", filter=Q(sla_standing=SlaStanding.WARNING)),
        breached=Count("pk", filter=Q(sla_standing=SlaStanding.BREACHED)),
    )
    return {k: int(v or 0) for k, v in row.items()}


def scope_counters(scopes: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for scope in scopes:
        kind, _sep, key = scope.partition(".")
        if kind == "centre":
            out[scope] = _ticket_counts(Q())
        elif kind == "team" and key.isdigit():
            out[scope] = _ticket_counts(Q(team_id=int(key)))
        elif kind == "user" and key.isdigit():
            out[scope] = _ticket_counts(Q(assignee_id=int(key)) | Q(first_contact_owner_id=int(key)))
        elif kind == "department" and key.isdigit():
            open_dispatches = Q(department_id=int(key), status__in=[DispatchStatus.PENDING,
                                                                     DispatchStatus.ACKNOWLEDGED])
            row = Dispatch.objects.filter(open_dispatches).aggregate(
                open=Count("pk"), pending=Count("pk", filter=Q(status=DispatchStatus.PENDING)),
                overdue=Count("pk", filter=Q(due_at__lt=timezone.now())))
            out[scope] = {k: int(v or 0) for k, v in row.items()}
    return out
