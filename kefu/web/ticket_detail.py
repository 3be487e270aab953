"""Everything the work-order page shows, read in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from kefu.accounts.models import USER_LABEL_FIELDS, User
from kefu.clocks.models import Clock
from kefu.conversations.models import Conversation
from kefu.conversations.permissions import ConversationRight
from kefu.core.errors import ApplicationError
from kefu.core.policy import has_right
from kefu.core.prepared import Prepared
from kefu.tickets.catalog import default_department_id
from kefu.tickets.choices import Channel, DispatchStatus, MessageKind, Priority, SlaClockState, SlaMetric, TicketType
from kefu.tickets.lifecycle import allowed_next, check_transition
from kefu.tickets.models import Attachment, Dispatch, Ticket, TicketEvent, TicketMessage
from kefu.tickets.permissions import TicketRight, can_handle_dispatch
from kefu.tickets.services import ASSIGNABLE_ROLES
from kefu.web.history import event_sentence
from kefu.web.option_lists import assignee_options, choice_options, department_options

# The order is read with the small things it names; the people it names are read together with the others the
# page names (one query, see ticket_detail_context).
DETAIL_RELATED = ("customer", "customer__dedicated_agent", "team", "category", "sla_policy")
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


# The page's reads keep one shape: compiled once, then run with the order's id (kefu.core.prepared).
_MESSAGES = Prepared(lambda ticket_id: TicketMessage.objects.filter(ticket_id=ticket_id).order_by("created_at", "id"))
_ATTACHMENTS = Prepared(lambda ticket_id: Attachment.objects.filter(ticket_id=ticket_id).order_by("id"))
_EVENTS = Prepared(lambda ticket_id: TicketEvent.objects.filter(ticket_id=ticket_id).order_by("created_at", "id"))
_DISPATCHES = Prepared(lambda ticket_id: Dispatch.objects.filter(ticket_id=ticket_id).select_related("department"))
_CLOCKS = Prepared(lambda ticket_id: Clock.objects.filter(
    subject_type="tickets.ticket", subject_id=ticket_id, metric__in=list(SlaMetric.values))
    .exclude(state=SlaClockState.CANCELLED).select_related("calendar").order_by("id"))


def _people_named(ticket_id: int) -> Any:
    """The people the page names (the order's, its messages', history's and dispatches'), in one query, with
    only the columns that name them."""
    named = Q(pk__in=Ticket.objects.filter(pk=ticket_id).values("assignee_id"))
    named |= Q(pk__in=Ticket.objects.filter(pk=ticket_id).values("first_contact_owner_id"))
    named |= Q(pk__in=Ticket.objects.filter(pk=ticket_id).values("created_by_id"))
    named |= Q(pk__in=TicketMessage.objects.filter(ticket_id=ticket_id).values("author_id"))
    named |= Q(pk__in=TicketEvent.objects.filter(ticket_id=ticket_id).values("actor_id"))
    for who in ("dispatched_by_id", "acknowledged_by_id", "completed_by_id"):
        named |= Q(pk__in=Dispatch.objects.filter(ticket_id=ticket_id).values(who))
    return User.objects.only(*USER_LABEL_FIELDS).filter(named)


_PEOPLE = Prepared(_people_named)
_REPLY_ROUTE = Prepared(lambda ticket_id: Conversation.objects.filter(ticket_id=ticket_id)
                        .order_by("-last_message_at", "-id").values_list("channel__name", flat=True)[:1])


def _name(obj: Any, field: str, people: dict[int, User]) -> None:
    """Fill a user foreign key from `people`, so the template reads it without a query."""
    person_id = getattr(obj, f"{field}_id")
    setattr(obj, field, people.get(person_id) if person_id else None)


def ticket_detail_context(user: Any, ticket: Ticket) -> dict[str, Any]:
    """Everything the page shows, in a fixed number of queries: the thread, the files, the history and the
    dispatches are read without joins; the people they name are read once, together."""
    messages = _MESSAGES.run(ticket.pk)
    attachments = _ATTACHMENTS.run(ticket.pk)
    events = _EVENTS.run(ticket.pk)
    dispatches = _DISPATCHES.run(ticket.pk)
    clocks = _CLOCKS.run(ticket.pk)
    people = {person.pk: person for person in _PEOPLE.run(ticket.pk)}
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
    # the channel of the order's latest conversation (one prepared read): where a reply goes, and whether the
    # page offers its "conversations" section (loaded after the page)
    conversation_channel = (next(iter(_REPLY_ROUTE.run(ticket.pk)), None)
                            if front_line or has_right(user, ConversationRight.VIEW) else None)
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
        # the channel a reply goes out through (the order's latest conversation), or None: recorded only
        "reply_route": conversation_channel if front_line else None,
        "has_conversations": conversation_channel is not None and has_right(user, ConversationRight.VIEW),
        "reply_kind": MessageKind.REPLY,
        "note_kind": MessageKind.NOTE,
        "customer_kind": MessageKind.CUSTOMER,
        "front_line": front_line,
        "now": timezone.now(),
        "errors": {},
        "edit_options": {
            "ticket_type": choice_options(TicketType, ticket.ticket_type),
            "priority": choice_options(Priority, ticket.priority),
            "channel": choice_options(Channel, ticket.channel),
        } if has_right(user, TicketRight.EDIT) else {},
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
