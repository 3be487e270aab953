"""Everything linked to a customer: the 360° timeline provider registry and the merge-hook registry.

Apps that attach records to customers (tickets here; later calls, chats, surveys, callbacks, QA) register a
timeline provider and a merge hook, usually in their AppConfig.ready():

    from kefu.customers.timeline import register_merge_hook, register_timeline_provider
    register_timeline_provider("calls", calls_timeline)     # (TimelineQuery) -> Iterable[TimelineEntry]
    register_merge_hook(calls_merge)                         # (MergeContext) -> {"calls": n} | None
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.policy import can, has_right, visible
from kefu.core.prepared import Prepared
from kefu.customers.permissions import CustomerRight

MAX_TIMELINE_LIMIT = 100


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the customer timeline.

    `key` is unique across providers ("ticket_event:12") and breaks ties between equal times; `kind` is a
    dotted machine name ("ticket.created") the UI maps to an icon; `title` is already translated; `link`
    may be "".
    """

    at: datetime
    kind: str
    title: str
    link: str
    actor: str
    key: str
    detail: str = ""
    source: str = ""


@dataclass(frozen=True)
class TimelineQuery:
    """What a provider is asked for: at most `limit` entries of `customer` visible to `user`, newest first,
    strictly older than `before` when given. Providers must use a constant number of queries."""

    user: Any
    customer: Any
    limit: int
    before: datetime | None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    # Pass as `before` to get the next page; None when there is nothing older.
    next_before: datetime | None


@dataclass(frozen=True)
class MergeContext:
    """Given to merge hooks inside the merge transaction: re-point rows of `duplicate_ids` to `target`."""

    actor: Any
    target: Any
    duplicate_ids: list[int]


TimelineProvider = Callable[[TimelineQuery], Iterable[TimelineEntry]]
MergeHook = Callable[[MergeContext], "dict[str, int] | None"]

TIMELINE_PROVIDERS: dict[str, TimelineProvider] = {}
MERGE_HOOKS: list[MergeHook] = []


def register_timeline_provider(name: str, provider: TimelineProvider) -> TimelineProvider:
    """Register (or replace, so reloading an app is harmless) the provider called `name`."""
    TIMELINE_PROVIDERS[name] = provider
    return provider


def register_merge_hook(hook: MergeHook) -> MergeHook:
    """Register a function that re-points an app's rows from merged duplicates to the target customer.

    It runs inside the merge transaction and returns counts for the audit row, e.g. {"calls": 3}.
    """
    if hook not in MERGE_HOOKS:
        MERGE_HOOKS.append(hook)
    return hook


def customer_timeline(user: Any, customer: Any, *, limit: int = 20,
                      before: datetime | None = None) -> TimelinePage:
    """The customer's timeline for `user`, newest first, `limit` entries (1–100) older than `before`.

    Each provider filters by what the viewer may see (work orders through `policy.visible`).
    Query count: a constant per registered provider, whatever the number of work orders.
    """
    if not can(user, CustomerRight.VIEW, customer):
        raise PermissionDenied(_("你没有查看客户资料的权限"))
    if not isinstance(limit, int) or not 1 <= limit <= MAX_TIMELINE_LIMIT:
        raise ValidationFailed(_("每页条数必须在 1 到 %(n)s 之间") % {"n": MAX_TIMELINE_LIMIT},
                               details={"field": "limit"})
    if before is not None and timezone.is_naive(before):
        before = timezone.make_aware(before)
    # One more than asked, so we know whether an older page exists.
    query = TimelineQuery(user=user, customer=customer, limit=limit + 1, before=before)
    entries: list[TimelineEntry] = []
    for name, provider in TIMELINE_PROVIDERS.items():
        for entry in provider(query):
            if before is None or entry.at < before:
                entries.append(entry if entry.source else _with_source(entry, name))
    entries.sort(key=_order, reverse=True)
    if len(entries) <= limit:
        return TimelinePage(entries=entries, next_before=None)
    page = entries[:limit]
    # `before` is a time: never split entries of the same instant across two pages. The page gets shorter,
    # or, when one instant fills the whole page, longer (every entry of that instant the providers returned).
    boundary = entries[limit].at
    if page[-1].at == boundary:
        page = [e for e in page if e.at != boundary] or [e for e in entries if e.at == boundary]
    more = len(entries) > len(page)
    return TimelinePage(entries=page, next_before=page[-1].at if more else None)


def _order(entry: TimelineEntry) -> tuple[datetime, str, int, str]:
    # Equal times: by key, with its numeric id compared as a number ("ticket_event:10" after ":9").
    prefix, _sep, tail = entry.key.rpartition(":")
    return (entry.at, prefix, int(tail) if tail.isdigit() else 0, tail)


def _with_source(entry: TimelineEntry, source: str) -> TimelineEntry:
    return replace(entry, source=source)


# --- work orders: the provider and the merge hook of the tickets app -------------------------------

def ticket_link(ticket_id: int) -> str:
    """URL of a work order's page (the web app names it "web:ticket_detail")."""
    try:
        return reverse("web:ticket_detail", args=[ticket_id])
    except NoReverseMatch:
        return f"/tickets/{ticket_id}/"


def _excerpt(text: str, n: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _person(display_name: str | None, first: str | None, last: str | None, username: str | None) -> str:
    """A person's name as User.__str__ gives it, from plain values."""
    full = f"{first or ''} {last or ''}".strip()
    return display_name or full or username or ""


_EVENT_FIELDS = ("id", "kind", "to_status", "data", "created_at", "ticket_id", "ticket__number", "ticket__subject",
                 "ticket__team__name", "actor__display_name", "actor__first_name", "actor__last_name",
                 "actor__username")
_MESSAGE_FIELDS = ("id", "kind", "body", "created_at", "ticket_id", "ticket__number", "ticket__subject",
                   "author__display_name", "author__first_name", "author__last_name", "author__username")


def _event_rows(customer_id: int, *, limit: int, before: datetime | None = None) -> Any:
    from kefu.tickets.choices import EventKind, Status
    from kefu.tickets.models import TicketEvent

    shown = (Q(kind__in=[EventKind.CREATED, EventKind.DISPATCHED, EventKind.DISPATCH_COMPLETED,
                         EventKind.ESCALATED])
             | Q(kind=EventKind.STATUS, to_status__in=[Status.RESOLVED, Status.CLOSED, Status.REOPENED]))
    events = TicketEvent.objects.filter(shown, ticket__customer_id=customer_id)
    if before is not None:
        events = events.filter(created_at__lt=before)
    return events.order_by("-created_at", "-id").values_list(*_EVENT_FIELDS)[:limit]


def _message_rows(customer_id: int, *, limit: int, openable: set[int] | None = None,
                  before: datetime | None = None) -> Any:
    """Replies and customer messages: of all the customer's orders (openable None), or of those listed."""
    from kefu.tickets.choices import MessageKind
    from kefu.tickets.models import TicketMessage

    messages = TicketMessage.objects.filter(kind__in=[MessageKind.REPLY, MessageKind.CUSTOMER])
    messages = (messages.filter(ticket__customer_id=customer_id) if openable is None
                else messages.filter(ticket_id__in=openable))
    if before is not None:
        messages = messages.filter(created_at__lt=before)
    return messages.order_by("-created_at", "-id").values_list(*_MESSAGE_FIELDS)[:limit]


_EVENT_ROWS = Prepared(_event_rows)
_MESSAGE_ROWS = Prepared(_message_rows)


def tickets_timeline(query: TimelineQuery) -> list[TimelineEntry]:
    """Work orders created / resolved / closed / reopened, dispatches, escalations (from TicketEvent) and
    replies and customer messages (from TicketMessage). Three queries (two for those who see every order), read
    as plain values: the work-order page shows this beside every order.

    The customer's whole history is shown, whichever team served them: an order the viewer may not open (another
    team's) appears by its number, subject and team, without a link, a detail or its messages."""
    from kefu.tickets.choices import EventKind, MessageKind, Status
    from kefu.tickets.models import Ticket
    from kefu.tickets.permissions import TicketRight

    sees_all = has_right(query.user, TicketRight.VIEW_ALL)
    openable: set[int] | None = None
    if not sees_all:
        openable = set(visible(query.user, Ticket.objects.filter(customer=query.customer))
                       .values_list("pk", flat=True))
    customer_id = query.customer.pk
    if query.before is None:  # the first page, beside every order: prepared reads
        event_rows = _EVENT_ROWS.run(customer_id, limit=query.limit)
        message_rows = (_MESSAGE_ROWS.run(customer_id, limit=query.limit) if openable is None
                        else _message_rows(customer_id, limit=query.limit, openable=openable))
    else:
        event_rows = _event_rows(customer_id, limit=query.limit, before=query.before)
        message_rows = _message_rows(customer_id, limit=query.limit, openable=openable, before=query.before)

    pattern = ticket_link(987654321)  # one reverse() for every link on the page

    def link(ticket_id: int) -> str:
        return pattern.replace("987654321", str(ticket_id))

    titles = {Status.RESOLVED: _("工单已解决 %(t)s"), Status.CLOSED: _("工单已关闭 %(t)s"),
              Status.REOPENED: _("工单已重开 %(t)s")}
    entries = []
    for (pk, event_kind, to_status, data, at, ticket_id, number, subject, team_name, *actor) in event_rows:
        mine = openable is None or ticket_id in openable
        label = f"{number or ticket_id} {subject}"
        if not mine:
            label = _("%(t)s（%(team)s）") % {"t": label, "team": team_name or _("未分组")}
        data = data or {}
        detail = ""
        if event_kind == EventKind.CREATED:
            kind, title = "ticket.created", _("创建工单 %(t)s") % {"t": label}
        elif event_kind == EventKind.STATUS:
            kind = f"ticket.{to_status}"
            title = titles[Status(to_status)] % {"t": label}
            detail = _excerpt(str(data.get("reason", "")))
        elif event_kind == EventKind.DISPATCHED:
            kind = "ticket.dispatched"
            title = _("派单到 %(d)s：%(t)s") % {"d": data.get("department_name", ""), "t": label}
        elif event_kind == EventKind.DISPATCH_COMPLETED:
            kind = "ticket.dispatch_completed"
            title = _("%(d)s 已完成派单：%(t)s") % {"d": data.get("department_name", ""), "t": label}
            detail = _excerpt(str(data.get("result", "")))
        else:
            kind, title = "ticket.escalated", _("工单升级 %(t)s") % {"t": label}
            detail = _excerpt(str(data.get("reason", "")))
        entries.append(TimelineEntry(at=at, kind=kind, title=title, link=link(ticket_id) if mine else "",
                                     actor=_person(*actor), key=f"ticket_event:{pk}",
                                     detail=detail if mine else ""))
    customer_name = str(query.customer)
    for (pk, message_kind, body, at, ticket_id, number, subject, *author) in message_rows:
        label = f"{number or ticket_id} {subject}"
        if message_kind == MessageKind.REPLY:
            kind, title, actor_name = "ticket.reply", _("回复客户 %(t)s") % {"t": label}, _person(*author)
        else:
            kind, title, actor_name = "ticket.customer_message", _("客户来信 %(t)s") % {"t": label}, customer_name
        entries.append(TimelineEntry(at=at, kind=kind, title=title, link=link(ticket_id), actor=actor_name,
                                     key=f"ticket_message:{pk}", detail=_excerpt(body)))
    return entries


def tickets_merge(context: MergeContext) -> dict[str, int]:
    """Re-point the duplicates' work orders to the target, with a history row on each and a version bump."""
    from kefu.tickets.choices import EventKind
    from kefu.tickets.models import Ticket, TicketEvent

    moved = list(Ticket.objects.filter(customer_id__in=context.duplicate_ids)
                 .values_list("pk", "customer_id"))
    if not moved:
        return {"tickets": 0}
    Ticket.objects.filter(pk__in=[pk for pk, _c in moved]).update(
        customer_id=context.target.pk, version=F("version") + 1, updated_at=timezone.now())
    actor = context.actor if getattr(context.actor, "is_authenticated", False) else None
    TicketEvent.objects.bulk_create(
        [TicketEvent(ticket_id=pk, kind=EventKind.EDITED, actor=actor,
                     data={"changes": {"customer": {"from": old, "to": context.target.pk}},
                           "reason": "customer_merge"})
         for pk, old in moved],
        batch_size=500,
    )
    return {"tickets": len(moved)}


register_timeline_provider("tickets", tickets_timeline)
register_merge_hook(tickets_merge)
