"""Everything the work-order page shows, read in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from kefu.accounts.models import USER_LABEL_FIELDS, User
from kefu.clocks.models import Clock
from kefu.core.errors import ApplicationError
from kefu.core.policy import has_right
from kefu.tickets.catalog import default_department_id
from kefu.tickets.choices import Channel, DispatchStatus, MessageKind, Priority, SlaClockState, SlaMetric, TicketType
from kefu.tickets.lifecycle import allowed_next, check_transition
from kefu.tickets.models import Attachment, Dispatch, Ticket, TicketEvent, TicketMessage
from kefu.tickets.permissions import TicketRight, can_handle_dispatch
from kefu.tickets.services import ASSIGNABLE_ROLES
from kefu.web.history import event_sentence
from kefu.web.option_lists import assignee_options, department_options

# The order is read with the small things it names; the people it names are read together with the others the
# page names (one query, see ticket_detail_context).
DETAIL_RELATED = ("customer", "team", "category", "sla_policy")
DETAIL_DEFERRED: tuple[str, ...] = ()


@dataclass(frozen=True)
class NextStatus:
    value: str
    label: str
    refused: str  # why the move would be refused right now, "" when it is possible


def next_statuses(ticket: Ticket, dispatches: list[Dispatch]) -> list[NextStatus]:
    """The lifecycle's next statuses, each with the reason it would be refused (checked like the service)."""
    result = []
    has_open = any(d.status in (DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED) for d in dispatches)
    for status in allowed_next(ticket.status):
        try:
            check_transition(ticket, status, has_open_dispatch=has_open)
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


def _people(ids: set[int | None]) -> dict[int, User]:
    """The users a page names, in one query, with only the columns that name them."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return User.objects.only(*USER_LABEL_FIELDS).in_bulk(wanted)  # type: ignore[no-any-return]


def _name(obj: Any, field: str, people: dict[int, User]) -> None:
    """Fill a user foreign key from `people`, so the template reads it without a query."""
    person_id = getattr(obj, f"{field}_id")
    setattr(obj, field, people.get(person_id) if person_id else None)


def ticket_detail_context(user: Any, ticket: Ticket) -> dict[str, Any]:
    """Everything the page shows, in a fixed number of queries: the thread, the files, the history and the
    dispatches are read without joins; the people they name are read once, together."""
    messages = list(TicketMessage.objects.filter(ticket=ticket).order_by("created_at", "id"))
    attachments = list(Attachment.objects.filter(ticket=ticket).order_by("id"))
    events = list(TicketEvent.objects.filter(ticket=ticket).order_by("created_at", "id"))
    dispatches = list(Dispatch.objects.filter(ticket=ticket).select_related("department"))
    clocks = list(
        Clock.objects.filter(subject_type="tickets.ticket", subject_id=ticket.pk, metric__in=list(SlaMetric.values))
        .exclude(state=SlaClockState.CANCELLED)
        .select_related("calendar")
        .order_by("id")
    )
    people = _people({ticket.assignee_id, ticket.first_contact_owner_id, ticket.created_by_id}
                     | {m.author_id for m in messages} | {e.actor_id for e in events}
                     | {getattr(d, f"{who}_id") for d in dispatches
                        for who in ("dispatched_by", "acknowledged_by", "completed_by")})
    for field in ("assignee", "first_contact_owner", "created_by"):
        _name(ticket, field, people)
    files: dict[int, list[Attachment]] = {}
    for attachment in attachments:
        if attachment.message_id:
            files.setdefault(attachment.message_id, []).append(attachment)
    for message in messages:
        _name(message, "author", people)
        message.files = files.get(message.pk, [])  # type: ignore[attr-defined]
    for event in events:
        _name(event, "actor", people)
    for dispatch in dispatches:
        for who in ("dispatched_by", "acknowledged_by", "completed_by"):
            _name(dispatch, who, people)
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
        "assignee_options": assignee_options(ASSIGNABLE_ROLES) if has_right(user, TicketRight.ASSIGN) else "",
        "department_options": department_options() if has_right(user, TicketRight.DISPATCH) else "",
        "dispatch_default_department": default_department_id(ticket_type=ticket.ticket_type,
                                                             category_id=ticket.category_id)
        if has_right(user, TicketRight.DISPATCH) else None,
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
