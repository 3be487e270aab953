"""Every read of work orders: one filter definition for the web list, the API list, the export and the counters,
one way to turn an order into a plain dict, counters per scope, and the queue of dispatched work.

The web list, the API, the export and each counter in the page header build a `TicketFilter` and hand it to
`ticket_filter_q`, so "search", "open", "due soon" and "breached" mean the same thing everywhere: a counter
that says "breached 12" links to a list of exactly those 12.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_lookup
from kefu.core.dates import DateInputError, parse_optional_moment
from kefu.core.errors import ValidationFailed
from kefu.core.policy import has_right, visible
from kefu.core.search import text_contains
from kefu.customers.choices import ContactKind, Tier
from kefu.customers.models import ContactPoint, Customer
from kefu.customers.normalize import guess_contact_kind, normalize_contact
from kefu.customers.permissions import CustomerRight
from kefu.tickets.choices import (
    OPEN_STATUSES,
    Channel,
    DispatchStatus,
    Priority,
    SlaStanding,
    Status,
    TicketType,
)
from kefu.tickets.models import Dispatch, Ticket
from kefu.tickets.permissions import TicketRight

OPEN = "open"  # the status filter's name for every open status
VIEWS = ("mine", "team", "all")
SLA_FILTERS = ("due_soon", "breached")
DISPATCH_FILTERS = ("open", "overdue")
OPEN_DISPATCH = (DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED)
SEARCH_MAX = 100
CUSTOMER_MATCH_CAP = 500  # a search naming more customers than this joins instead of listing their ids


# --- the filter ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilter:
    """What a list of work orders shows. Empty fields do not filter.

    `view`: "mine" (assignee or first-contact owner), "team" (my team's) or "all" (all I may see).
    `statuses` may hold "open" (every open status). `sla`: "due_soon" (SLA warning) or "breached".
    `assignee`: a user id, "me" or "none". `dispatch`: "open" (waiting on a department) or "overdue" (a
    department's open dispatch is past its due time). Times are aware datetimes; `*_to` is exclusive.
    """

    view: str = "all"
    q: str = ""
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    sla: str = ""
    tier: str = ""
    assignee: str = ""
    team: int | None = None
    customer: int | None = None
    category: int | None = None
    dispatch: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    resolved_from: datetime | None = None
    resolved_to: datetime | None = None

    def with_(self, **changes: Any) -> TicketFilter:
        return replace(self, **changes)

    def to_query(self) -> dict[str, Any]:
        """The query parameters that parse back into this filter (for links: `?` + urlencode(…, doseq=True))."""
        out: dict[str, Any] = {"scope": self.view}
        for name, param in _MULTI:
            if getattr(self, name):
                out[param] = list(getattr(self, name))
        for name in ("q", "sla", "tier", "assignee", "dispatch"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("team", "customer", "category"):
            if getattr(self, name) is not None:
                out[name] = str(getattr(self, name))
        for name in ("created_from", "created_to", "resolved_from", "resolved_to"):
            value = getattr(self, name)
            if value is not None:
                out[name] = _format_time(value, end=name.endswith("_to"))
        return out

    def query_string(self) -> str:
        return urlencode(self.to_query(), doseq=True)


_MULTI = (("statuses", "status"), ("types", "type"), ("priorities", "priority"), ("channels", "channel"))
_CHOICES: dict[str, Sequence[str]] = {
    "status": [OPEN, *Status.values],
    "type": TicketType.values,
    "priority": Priority.values,
    "channel": Channel.values,
}
FILTER_PARAMETERS = (
    "scope", "q", "status", "type", "priority", "channel", "sla", "tier", "assignee", "team", "customer",
    "category", "dispatch", "created_from", "created_to", "resolved_from", "resolved_to",
)


def _format_time(value: datetime, *, end: bool = False) -> str:
    """A bound as a parameter: a local midnight as a date (for an end bound, the day it ends)."""
    local = timezone.localtime(value)
    if local.time() == time(0):
        return (local.date() - timedelta(days=1) if end else local.date()).isoformat()
    return local.isoformat(timespec="seconds")


@dataclass(frozen=True)
class FilterError:
    parameter: str
    message: str


def _problem(parameter: str, message: str) -> FilterError:
    return FilterError(parameter=parameter, message=message)


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist else params.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    out: list[str] = []
    for item in items:  # ?status=a,b is the same as ?status=a&status=b
        out += [part.strip() for part in str(item).split(",") if part.strip()]
    return out


def _single(params: Mapping[str, Any], name: str) -> str:
    """A one-value parameter: the last one given wins."""
    values = _values(params, name)
    return values[-1] if values else ""


def _raw(params: Mapping[str, Any], name: str) -> list[Any]:
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist else params.get(name)
    if raw is None:
        return []
    return list(raw) if isinstance(raw, list | tuple) else [raw]


def parse_ticket_filter(
    params: Mapping[str, Any], *, default_view: str = "all"
) -> tuple[TicketFilter, list[FilterError]]:
    """A `TicketFilter` from query parameters, and one error per parameter it could not use (that parameter
    is then left out). The web list shows the errors above the list; the API refuses them (`ticket_filter_from`).
    """
    errors: list[FilterError] = []
    values: dict[str, Any] = {}
    view = _single(params, "scope") or default_view
    if view not in VIEWS:
        errors.append(_problem("scope", _("scope 只能是 mine、team 或 all")))
        view = default_view
    values["view"] = view
    q = " ".join(str(v) for v in _raw(params, "q")).strip()
    if len(q) > SEARCH_MAX:
        errors.append(_problem("q", _("q 最多 %(n)s 个字符") % {"n": SEARCH_MAX}))
        q = q[:SEARCH_MAX]
    values["q"] = q
    for name, param in _MULTI:
        given = _values(params, param)
        bad = [v for v in given if v not in _CHOICES[param]]
        if bad:
            errors.append(_problem(param, _("%(p)s 不能是 %(v)s") % {"p": param, "v": "、".join(bad[:3])}))
        good = tuple(dict.fromkeys(v for v in given if v in _CHOICES[param]))
        if OPEN in good and len(good) > 1:
            good = tuple(v for v in good if v not in OPEN_STATUSES)
        values[name] = good
    sla = _single(params, "sla")
    sla = "due_soon" if sla == "soon" else sla  # the web list's earlier name
    if sla and sla not in SLA_FILTERS:
        errors.append(_problem("sla", _("sla 只能是 due_soon 或 breached")))
        sla = ""
    values["sla"] = sla
    tier = _single(params, "tier").upper()
    if tier and tier not in Tier.values:
        errors.append(_problem("tier", _("tier 只能是 A、B、C 或 D")))
        tier = ""
    values["tier"] = tier
    assignee = _single(params, "assignee")
    if assignee and not (assignee in ("me", "none") or re.fullmatch(r"\d{1,18}", assignee)):
        errors.append(_problem("assignee", _("assignee 必须是用户编号、me 或 none")))
        assignee = ""
    values["assignee"] = assignee
    for name in ("team", "customer", "category"):
        raw = _single(params, name)
        if raw and not re.fullmatch(r"\d{1,18}", raw):
            errors.append(_problem(name, _("%(p)s 必须是编号（正整数）") % {"p": name}))
            raw = ""
        values[name] = int(raw) if raw else None
    dispatch = _single(params, "dispatch")
    if dispatch and dispatch not in DISPATCH_FILTERS:
        errors.append(_problem("dispatch", _("dispatch 只能是 open 或 overdue")))
        dispatch = ""
    values["dispatch"] = dispatch
    for name in ("created_from", "created_to", "resolved_from", "resolved_to"):
        try:  # the one date parser of the API and the web (kefu.core.dates)
            values[name] = parse_optional_moment(_single(params, name), field=name, end=name.endswith("_to"))
        except DateInputError as error:
            errors.append(_problem(name, error.message))
            values[name] = None
    return TicketFilter(**values), errors


def ticket_filter_from(params: Mapping[str, Any], *, default_view: str = "all") -> TicketFilter:
    """`parse_ticket_filter` for the API and the export: any unusable parameter is refused (422), each named."""
    found, errors = parse_ticket_filter(params, default_view=default_view)
    if errors:
        raise ValidationFailed(
            _("查询参数有误：%(p)s") % {"p": "；".join(e.message for e in errors)},
            status=422,
            details={"fields": [{"field": e.parameter, "location": "query", "message": e.message}
                                for e in errors]},
        )
    return found


# --- what a filter means ---------------------------------------------------------------------------------

Scope = tuple[str, int | None]  # ("user", 7), ("team", 3), ("department", 2), ("centre", None)


def scope_key(scope: Scope) -> str:
    """"user.7", "team.3", "department.2", "centre": the name pages and live pushes use for a scope."""
    kind, pk = scope
    return kind if pk is None else f"{kind}.{pk}"


def scope_q(scope: Scope) -> Q:
    """The work orders in a scope (department scopes count dispatches, see `dispatch_q`)."""
    kind, pk = scope
    if kind == "user":
        return Q(assignee_id=pk) | Q(first_contact_owner_id=pk)
    if kind == "team":
        return Q(team_id=pk)
    if kind == "department":
        return Q(Exists(Dispatch.objects.filter(ticket_id=OuterRef("pk"), department_id=pk)))
    return Q()


def view_scope(view: str, user: Any) -> Scope | None:
    """The scope a list view stands for; None when it is empty (no team)."""
    if view == "mine":
        return ("user", user.pk)
    if view == "team":
        return ("team", user.team_id) if getattr(user, "team_id", None) else None
    return ("centre", None)


def _search_q(q: str, user: Any) -> Q:
    """Number (exact, or its beginning when it looks like one), subject, external reference, customer name, and
    the customer's full phone number or e-mail address (exact, on the normalised contact; never a part of it).
    A search by a contact from a role that sees contacts masked is audited (kefu.core.audit.audit_lookup).

    The customers are looked up first, so the order table is filtered by an id list: each arm of the OR then
    uses its own index (on PostgreSQL the subject's trigram index, the customer key, the number)."""
    text = q.strip()[:SEARCH_MAX]
    cond = text_contains("subject", text) | Q(number=text.upper()) | Q(external_ref=text)
    upper = text.upper()
    if upper.startswith("GD") and upper[2:].isdigit() and len(upper) > 2:
        cond |= Q(number__startswith=upper)
    names = Customer.objects.filter(text_contains("name", text)).values_list("pk", flat=True)
    customer_ids = list(names[: CUSTOMER_MATCH_CAP + 1])
    if len(customer_ids) > CUSTOMER_MATCH_CAP:
        cond |= Q(customer__name__icontains=text)
    elif customer_ids:
        cond |= Q(customer_id__in=customer_ids)
    if has_right(user, CustomerRight.VIEW):
        kind = guess_contact_kind(text)
        if kind in (ContactKind.PHONE, ContactKind.EMAIL):
            try:
                normalized = normalize_contact(kind, text)
            except ValidationFailed:
                normalized = ""
            digits = sum(ch.isdigit() for ch in text)
            if not has_right(user, CustomerRight.VIEW_PHONE) and (kind == ContactKind.EMAIL or digits >= 4):
                # a role that sees contacts masked: its search by one is written down (kefu.core.audit)
                audit_lookup(actor=user, kind=kind, value=normalized or text, whole=bool(normalized),
                             source="tickets")
            if normalized:
                by_contact = list(
                    ContactPoint.objects.filter(kind=kind, normalized=normalized)
                    .values_list("customer_id", flat=True)[: CUSTOMER_MATCH_CAP]
                )
                if by_contact:
                    cond |= Q(customer_id__in=by_contact)
    return cond


def ticket_filter_q(f: TicketFilter, user: Any, *, now: datetime | None = None) -> Q:
    """The conditions of `f` apart from its view (see `view_scope`) and the viewer's visibility."""
    cond = Q()
    if f.statuses:
        statuses = set(OPEN_STATUSES) if OPEN in f.statuses else set()
        statuses |= {s for s in f.statuses if s != OPEN}
        cond &= Q(status__in=sorted(statuses))
    if f.types:
        cond &= Q(ticket_type__in=f.types)
    if f.priorities:
        cond &= Q(priority__in=f.priorities)
    if f.channels:
        cond &= Q(channel__in=f.channels)
    if f.sla == "due_soon":
        cond &= Q(sla_standing=SlaStanding.WARNING)
    elif f.sla == "breached":
        cond &= Q(sla_standing=SlaStanding.BREACHED)
    if f.tier:
        cond &= Q(customer__tier=f.tier)
    if f.assignee == "me":
        cond &= Q(assignee_id=user.pk)
    elif f.assignee == "none":
        cond &= Q(assignee__isnull=True)
    elif f.assignee:
        cond &= Q(assignee_id=int(f.assignee))
    if f.team is not None:
        cond &= Q(team_id=f.team)
    if f.customer is not None:
        cond &= Q(customer_id=f.customer)
    if f.category is not None:
        cond &= Q(category_id=f.category)
    if f.dispatch:
        open_dispatches = Dispatch.objects.filter(ticket_id=OuterRef("pk"), status__in=OPEN_DISPATCH)
        if f.dispatch == "overdue":
            open_dispatches = open_dispatches.filter(due_at__lt=now or timezone.now())
        cond &= Q(Exists(open_dispatches))
    if f.created_from:
        cond &= Q(created_at__gte=f.created_from)
    if f.created_to:
        cond &= Q(created_at__lt=f.created_to)
    if f.resolved_from:
        cond &= Q(resolved_at__gte=f.resolved_from)
    if f.resolved_to:
        cond &= Q(resolved_at__lt=f.resolved_to)
    if f.q:
        cond &= _search_q(f.q, user)
    return cond


def filter_tickets(user: Any, f: TicketFilter, *, now: datetime | None = None) -> QuerySet[Ticket]:
    """The work orders `user` may see that match `f` (its view included). Unordered."""
    qs = visible(user, Ticket.objects.all())
    scope = view_scope(f.view, user)
    if scope is None:
        return qs.none()
    return qs.filter(scope_q(scope)).filter(ticket_filter_q(f, user, now=now))


def default_view_for(user: Any) -> str:
    """The list a person opens first: supervisors all open orders, team leads their team's, agents their own."""
    if has_right(user, TicketRight.VIEW_ALL):
        return "all"
    if has_right(user, TicketRight.SUPERVISE_TEAM) and getattr(user, "team_id", None):
        return "team"
    return "mine"


def default_filter_for(user: Any) -> TicketFilter:
    """The list the sidebar opens: the view that suits the person, open orders."""
    return TicketFilter(view=default_view_for(user), statuses=(OPEN,))


def views_for(user: Any) -> list[str]:
    allowed = ["mine"]
    if getattr(user, "team_id", None):
        allowed.append("team")
    if has_right(user, TicketRight.VIEW_ALL):
        allowed.append("all")
    return allowed


def list_url(f: TicketFilter) -> str:
    from django.urls import reverse

    return reverse("web:ticket_list") + "?" + f.query_string()


# --- one order as a plain dict ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """The work order as JSON-safe values: what the API's list items, the webhooks' `ticket` and the live events
    carry. Reads no relation (ids only)."""
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "type": ticket.ticket_type,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "status": ticket.status,
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "first_contact_owner_id": ticket.first_contact_owner_id,
        "customer_id": ticket.customer_id,
        "category_id": ticket.category_id,
        "sla_standing": ticket.sla_standing,
        "sla_due_at": _iso(ticket.sla_due_at),
        "escalation_level": ticket.escalation_level,
        "external_ref": ticket.external_ref,
        "version": ticket.version,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


# The columns a list of orders shows (the web list and the export load only these).
LIST_FIELDS = (
    "id", "created_at", "updated_at", "number", "subject", "channel", "escalation_level", "status", "priority",
    "ticket_type", "sla_due_at", "sla_standing", "team_id", "assignee_id", "first_contact_owner_id",
    "customer_id", "category_id", "external_ref", "version", "resolved_at",
    "customer__name", "customer__code", "customer__tier", "customer__is_vip",
    "assignee__display_name", "assignee__first_name", "assignee__last_name", "assignee__username",
    "team__name",
)


def list_queryset(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """A list's rows with what `ticket_summary` and the display rows read, in one query."""
    return qs.select_related("customer", "assignee", "team").only(*LIST_FIELDS)


def ticket_list_item(ticket: Ticket) -> dict[str, Any]:
    """`ticket_summary` with the names a list shows (customer, assignee, team); expects `list_queryset`."""
    item = ticket_summary(ticket)
    customer = ticket.customer
    item["customer"] = (
        {"id": customer.pk, "code": customer.code, "name": customer.name, "tier": customer.tier,
         "is_vip": customer.is_vip}
        if customer else None
    )
    item["assignee_name"] = str(ticket.assignee) if ticket.assignee else None
    item["team_name"] = ticket.team.name if ticket.team else None
    return item


# --- counters --------------------------------------------------------------------------------------------

COUNTERS_TTL_SECONDS = 10
TICKET_FIGURES = ("open", "due_soon", "breached")
DEPARTMENT_FIGURES = ("pending", "overdue")


def counter_filters(scope: Scope) -> dict[str, TicketFilter]:
    """Each figure of a work-order scope as the list filter it counts (open orders only, always)."""
    kind, _pk = scope
    view = {"user": "mine", "team": "team", "centre": "all"}[kind]
    base = TicketFilter(view=view, statuses=(OPEN,))
    return {"open": base, "due_soon": base.with_(sla="due_soon"), "breached": base.with_(sla="breached")}


def department_queue_q(department_id: int | None, tab: str, *, now: datetime | None = None) -> Q:
    """The dispatches of one queue tab: "open" (pending or taken), "pending", "acknowledged", "done" or
    "overdue" (open and past the due time)."""
    cond = Q(department_id=department_id) if department_id else Q()
    if tab == "open":
        cond &= Q(status__in=OPEN_DISPATCH)
    elif tab == "overdue":
        cond &= Q(status__in=OPEN_DISPATCH, due_at__lt=now or timezone.now())
    else:
        cond &= Q(status=tab)
    return cond


def ticket_counters(*, scope: Scope, now: datetime | None = None) -> dict[str, int]:
    """The figures of one scope, in one query: open / due_soon / breached work orders for user, team and centre
    scopes; pending / overdue dispatches for a department. Each equals the length of the list it links to."""
    kind, pk = scope
    if kind == "department":
        row = Dispatch.objects.filter(department_id=pk).aggregate(
            pending=Count("pk", filter=department_queue_q(pk, DispatchStatus.PENDING)),
            overdue=Count("pk", filter=department_queue_q(pk, "overdue", now=now)),
        )
        return {name: row[name] or 0 for name in DEPARTMENT_FIGURES}
    wanted = counter_filters(scope)
    # one read of the scope's open orders: each figure is the open-orders filter with its SLA condition
    qs = Ticket.objects.filter(scope_q(scope)).filter(ticket_filter_q(wanted["open"], None, now=now))
    row = qs.aggregate(**{name: Count("sla_standing", filter=_sla_q(f.sla)) if f.sla else Count("*")
                          for name, f in wanted.items()})
    return {name: row[name] or 0 for name in TICKET_FIGURES}


def ticket_counters_cached(*, scope: Scope, fresh: bool = False) -> dict[str, int]:
    """`ticket_counters` as every page's header shows them: at most COUNTERS_TTL_SECONDS old, cached per scope
    (everyone looking at team 3 shares one count). `fresh` recounts and refreshes the cached copy."""
    key = f"kefu:counters:{scope_key(scope)}"
    if not fresh:
        cached = cache.get(key)
        if isinstance(cached, dict):
            return cached
    counters = ticket_counters(scope=scope)
    cache.set(key, counters, COUNTERS_TTL_SECONDS)
    return counters


def counter_scopes_for(user: Any) -> list[Scope]:
    """Which scopes' counters a person watches, by rights: the centre for those who see every order; a team
    lead their team, then their own; an agent their own, then their team; department staff their department."""
    if not getattr(user, "is_authenticated", False):
        return []
    if has_right(user, TicketRight.VIEW_ALL):
        return [("centre", None)]
    if has_right(user, TicketRight.WORKSPACE):
        mine: Scope = ("user", user.pk)
        if not user.team_id:
            return [mine]
        team: Scope = ("team", user.team_id)
        return [team, mine] if has_right(user, TicketRight.SUPERVISE_TEAM) else [mine, team]
    if has_right(user, TicketRight.DISPATCH_ACKNOWLEDGE) and getattr(user, "department_id", None):
        return [("department", user.department_id)]
    return []


@dataclass(frozen=True)
class Figure:
    name: str  # "open", "due_soon", "breached", "pending", "overdue"
    value: int
    url: str


@dataclass(frozen=True)
class ScopeCounters:
    scope: Scope
    key: str  # "team.3"
    figures: list[Figure] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.scope[0]


@lru_cache(maxsize=4096)
def _figure_links(scope: Scope, script_prefix: str) -> tuple[tuple[str, str], ...]:
    """(figure name, link to its list) of a scope's counters: the same for every request (per URL prefix)."""
    from django.urls import reverse

    if scope[0] == "department":
        queue = reverse("web:department_queue")
        return tuple((name, f"{queue}?{urlencode({'tab': tab})}")
                     for name, tab in (("pending", DispatchStatus.PENDING.value), ("overdue", "overdue")))
    return tuple((name, list_url(f)) for name, f in counter_filters(scope).items())


def counters_for(user: Any, *, fresh: bool = False) -> list[ScopeCounters]:
    """The header's counters of `user`, each figure with the link to its list."""
    from django.urls import get_script_prefix

    out = []
    for scope in counter_scopes_for(user):
        values = ticket_counters_cached(scope=scope, fresh=fresh)
        figures = [Figure(name, values[name], url) for name, url in _figure_links(scope, get_script_prefix())]
        out.append(ScopeCounters(scope=scope, key=scope_key(scope), figures=figures))
    return out


# --- reads for pages --------------------------------------------------------------------------------------


def urgency_order(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Most urgent first: breached, then by due time (orders without a due time last), then oldest."""
    return qs.annotate(
        _breached=Case(When(sla_standing=SlaStanding.BREACHED, then=Value(0)), default=Value(1),
                       output_field=IntegerField())
    ).order_by("_breached", "sla_due_at", "created_at", "id")


def most_urgent(user: Any, f: TicketFilter, *, limit: int = 8) -> list[Ticket]:
    """The open orders of `f` most in need of attention: breached first, then by due time (`urgency_order`).

    Two reads, each walking an index in order (breached orders by due time; the other open orders by due
    time), instead of sorting every open order."""
    qs = filter_tickets(user, f.with_(statuses=(OPEN,)))
    breached = list(list_queryset(qs.filter(sla_standing=SlaStanding.BREACHED)
                                  .order_by("sla_due_at", "created_at", "id"))[:limit])
    if len(breached) >= limit:
        return breached
    rest = (qs.filter(sla_due_at__isnull=False).exclude(sla_standing=SlaStanding.BREACHED)
            .order_by("sla_due_at", "created_at", "id"))
    return breached + list(list_queryset(rest)[: limit - len(breached)])


def count_many(user: Any, named: Mapping[str, TicketFilter], *, now: datetime | None = None) -> dict[str, int]:
    """Several list filters counted over the rows `user` may see, each exactly as its list counts it.

    Filters that differ only in their SLA condition share one query (a COUNT per SLA condition over the rows
    of the rest), so "open / due soon / breached" is one read of the open orders' index."""
    groups: dict[TicketFilter, dict[str, TicketFilter]] = {}
    for name, f in named.items():
        groups.setdefault(f.with_(sla=""), {})[name] = f
    counts: dict[str, int] = {}
    for base, members in groups.items():
        scope = view_scope(base.view, user)
        if scope is None:
            counts.update(dict.fromkeys(members, 0))
            continue
        qs = visible(user, Ticket.objects.all()).filter(scope_q(scope)).filter(ticket_filter_q(base, user, now=now))
        row = qs.aggregate(**{
            name: Count("sla_standing", filter=_sla_q(f.sla)) if f.sla else Count("*") for name, f in members.items()
        })
        counts.update({name: row[name] or 0 for name in members})
    return {name: counts[name] for name in named}


# Counts name `sla_standing` (never null) rather than the id: on PostgreSQL the open orders' partial index then
# answers them without reading the table.
def _sla_q(sla: str) -> Q:
    return Q(sla_standing=SlaStanding.WARNING if sla == "due_soon" else SlaStanding.BREACHED)


def count_by(
    user: Any, f: TicketFilter, group: str, *, figures: Mapping[str, TicketFilter] | None = None, limit: int = 20,
) -> list[dict[str, Any]]:
    """Rows of `f` grouped by `group` ("assignee", "team", "category"), each with `open` and, for each name in
    `figures`, the count of rows also matching that filter's SLA condition. Largest first."""
    qs = filter_tickets(user, f)
    aggregates: dict[str, Any] = {"n": Count("*")}
    for name, extra in (figures or {}).items():
        if extra.with_(sla="") != f:
            raise ValueError("count_by figures narrow the grouped filter by their SLA condition only")
        aggregates[name] = Count("sla_standing", filter=_sla_q(extra.sla))
    rows = qs.order_by().values(f"{group}_id").annotate(**aggregates).order_by("-n", f"{group}_id")[:limit]
    return [dict(r) for r in rows]


def todays_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    today = timezone.localdate(now or timezone.now())
    start = timezone.make_aware(datetime.combine(today, time(0)))
    return start, start + timedelta(days=1)


def customer_ticket_history(user: Any, customer_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
    """Every work order of a customer, whichever team served it, newest first: `ticket_list_item` plus
    `openable` (whether `user` may open it) and `resolved_at`. Two queries. The caller checks that `user` may
    see the customer; orders outside the viewer's scope are listed but not openable (their page answers 404)."""
    of_customer = Ticket.objects.filter(customer_id=customer_id)
    rows = list(list_queryset(of_customer).order_by("-created_at", "-id")[:limit])
    openable = set(visible(user, of_customer.filter(pk__in=[r.pk for r in rows])).values_list("pk", flat=True))
    out = []
    for ticket in rows:
        item = ticket_list_item(ticket)
        item["openable"] = ticket.pk in openable
        item["resolved_at"] = _iso(ticket.resolved_at)
        out.append(item)
    return out


def dispatch_queue(user: Any, department_id: int | None, tab: str, *, now: datetime | None = None
                   ) -> QuerySet[Dispatch]:
    """A department queue's tab, of the dispatches `user` may see; open work by due time, else newest first."""
    qs = visible(user, Dispatch.objects.all()).filter(department_queue_q(department_id, tab, now=now))
    if tab in ("open", "overdue", DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED):
        return qs.order_by("status", "due_at", "dispatched_at", "id")
    return qs.order_by("-dispatched_at", "-id")


__all__ = [
    "FILTER_PARAMETERS",
    "LIST_FIELDS",
    "OPEN",
    "Figure",
    "FilterError",
    "ScopeCounters",
    "TicketFilter",
    "count_by",
    "count_many",
    "counter_filters",
    "counter_scopes_for",
    "counters_for",
    "customer_ticket_history",
    "default_filter_for",
    "default_view_for",
    "dispatch_queue",
    "filter_tickets",
    "list_queryset",
    "list_url",
    "most_urgent",
    "parse_ticket_filter",
    "scope_key",
    "scope_q",
    "ticket_counters",
    "ticket_counters_cached",
    "ticket_filter_from",
    "ticket_filter_q",
    "ticket_list_item",
    "ticket_summary",
    "todays_bounds",
    "urgency_order",
    "view_scope",
    "views_for",
]


def open_dispatches_of(department_id: int) -> QuerySet[Dispatch]:
    """The department's dispatches not yet done (pending or acknowledged)."""
    return Dispatch.objects.filter(department_id=department_id, status__in=OPEN_DISPATCH)
