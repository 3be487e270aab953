"""Everything the work-order page shows, read in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from kefu.accounts.models import Department, User, user_label_defer
from kefu.clocks.models import Clock
from kefu.core.errors import ApplicationError
from kefu.core.policy import has_right
from kefu.tickets.choices import Channel, DispatchStatus, MessageKind, Priority, SlaClockState, SlaMetric, TicketType
from kefu.tickets.lifecycle import allowed_next, check_transition
from kefu.tickets.models import Attachment, Dispatch, Ticket, TicketEvent, TicketMessage
from kefu.tickets.permissions import TicketRight, can_handle_dispatch
from kefu.tickets.services import ASSIGNABLE_ROLES
from kefu.web.history import event_sentence

DETAIL_RELATED = (
    "customer",
    "assignee",
    "first_contact_owner",
    "team",
    "category",
    "sla_policy",
    "created_by",
)
# The page names these users only: their other columns stay unloaded.
DETAIL_DEFERRED = tuple(f for who in ("assignee", "first_contact_owner", "created_by") for f in user_label_defer(who))


@dataclass(frozen=True)
class NextStatus:
    value: str
    label: str
    refused: str  # why the move would be refused right now, "" when it is possible


def next_statuses(ticket: Ticket, dispatches: list[Dispatch]) -> list[NextStatus]:
    """The lifecycle's next statuses, each with the reason it would be refused (checked like the service)."""
    result = []
    for status in allowed_next(ticket.status):
        try:
            check_transition(ticket, status)
            refused = ""
        except ApplicationError as error:
            refused = error.message
        result.append(NextStatus(value=status.value, label=str(status.label), refused=refused))
    return result


@dataclass(frozen=True)
class ClockView:
    clock: Clock
    label: str
    remaining_business: int | None  # business seconds left (negative: over), None when stopped


def _metric_label(metric: str) -> str:
    return str(SlaMetric(metric).label) if metric in SlaMetric.values else metric


def clock_views(clocks: list[Clock], now: Any) -> list[ClockView]:
    """Each SLA clock with its remaining business time, on its own calendar (read once each)."""
    from kefu.clocks.services import Calendars, elapsed

    calendars = Calendars()
    result = []
    for clock in clocks:
        remaining = None
        if (
            clock.state in (SlaClockState.RUNNING, SlaClockState.PAUSED, SlaClockState.BREACHED)
            and not clock.stopped_at
        ):
            remaining = clock.target_seconds - elapsed(clock, calendars.of(clock), now)
        result.append(ClockView(clock=clock, label=_metric_label(clock.metric),
                                remaining_business=remaining))
    return result


def ticket_detail_context(user: Any, ticket: Ticket) -> dict[str, Any]:
    messages = list(
        TicketMessage.objects.filter(ticket=ticket)
        .select_related("author")
        .defer(*user_label_defer("author"))
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
    )
    attachments = list(
        Attachment.objects.filter(ticket=ticket).select_related("uploaded_by").defer(*user_label_defer("uploaded_by"))
    )
    events = list(TicketEvent.objects.filter(ticket=ticket).select_related("actor").defer(*user_label_defer("actor")))
    dispatches = list(
        Dispatch.objects.filter(ticket=ticket)
        .select_related("department", "dispatched_by", "acknowledged_by", "completed_by")
        .defer(*[f for who in ("dispatched_by", "acknowledged_by", "completed_by") for f in user_label_defer(who)])
    )
    clocks = list(
        Clock.objects.filter(subject_type="tickets.ticket", subject_id=ticket.pk, metric__in=list(SlaMetric.values))
        .exclude(state=SlaClockState.CANCELLED)
        .select_related("calendar")
        .order_by("id")
    )
    for dispatch in dispatches:
        dispatch.pk_str = str(dispatch.pk)  # type: ignore[attr-defined]
        dispatch.can_handle = can_handle_dispatch(user, dispatch)  # type: ignore[attr-defined]
        dispatch.is_open = dispatch.status in (DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED)  # type: ignore[attr-defined]
    front_line = has_right(user, TicketRight.REPLY)
    return {
        "ticket": ticket,
        "thread_messages": messages,
        "attachments": attachments,
        "history": [(event, event_sentence(event)) for event in reversed(events)],
        "dispatches": dispatches,
        "clocks": clock_views(clocks, timezone.now()),
        "next_statuses": next_statuses(ticket, dispatches)
        if has_right(user, TicketRight.TRANSITION)
        else [],
        "assignees": list(
            User.objects.filter(is_active=True, role__in=ASSIGNABLE_ROLES)
            .select_related("team")
            .defer(*user_label_defer())
            .order_by("team__name", "display_name", "username")
        )
        if has_right(user, TicketRight.ASSIGN)
        else [],
        "departments": list(Department.objects.filter(is_service_center=False).order_by("name"))
        if has_right(user, TicketRight.DISPATCH)
        else [],
        "reply_kind": MessageKind.REPLY,
        "note_kind": MessageKind.NOTE,
        "customer_kind": MessageKind.CUSTOMER,
        "front_line": front_line,
        "now": timezone.now(),
        "errors": {},
        "ticket_type_choices": TicketType.choices,
        "priority_choices": Priority.choices,
        "channel_choices": Channel.choices,
        "attachment_max_mb": settings.KEFU_ATTACHMENT_MAX_BYTES // (1024 * 1024),
        "act": {
            name: has_right(user, action)
            for name, action in (
                ("reply", TicketRight.REPLY),
                ("note", TicketRight.NOTE),
                ("transition", TicketRight.TRANSITION),
                ("assign", TicketRight.ASSIGN),
                ("dispatch", TicketRight.DISPATCH),
                ("escalate", TicketRight.ESCALATE),
                ("edit", TicketRight.EDIT),
            )
        },
    }
