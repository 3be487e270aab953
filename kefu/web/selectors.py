"""Reads for the workspace pages that are not another app's: SLA counters, saved views, list filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q

from kefu.core.policy import visible
from kefu.core.search import text_contains
from kefu.customers.models import Customer
from kefu.tickets.choices import OPEN_STATUSES, SlaStanding
from kefu.tickets.models import SavedView, Ticket


@dataclass(frozen=True)
class SlaCounters:
    mine_warning: int = 0
    mine_breached: int = 0
    team_warning: int = 0
    team_breached: int = 0


def sla_counters(*, user: Any) -> SlaCounters:
    """Open orders due soon / breached for the user and for the user's team, in one query."""
    if not getattr(user, "is_authenticated", False):
        return SlaCounters()
    mine = Q(assignee_id=user.pk) | Q(first_contact_owner_id=user.pk)
    team = Q(team_id=user.team_id) if user.team_id else Q(pk__in=[])
    qs = (
        visible(user, Ticket.objects.all())
        .filter(sla_standing__in=[SlaStanding.WARNING, SlaStanding.BREACHED], status__in=list(OPEN_STATUSES))
        .filter(mine | team)
    )
    warning, breached = Q(sla_standing=SlaStanding.WARNING), Q(sla_standing=SlaStanding.BREACHED)
    row = qs.aggregate(
        mine_warning=Count("pk", filter=mine & warning),
        mine_breached=Count("pk", filter=mine & breached),
        team_warning=Count("pk", filter=team & warning),
        team_breached=Count("pk", filter=team & breached),
    )
    return SlaCounters(**{k: v or 0 for k, v in row.items()})


COUNTERS_TTL_SECONDS = 10


def sla_counters_cached(*, user: Any, fresh: bool = False) -> SlaCounters:
    """`sla_counters` as shown in every page's header: at most COUNTERS_TTL_SECONDS old (the count reads a
    large team's open orders, once per page otherwise). `fresh` recounts and refreshes the cached copy: the
    live update that follows every change asks for it, so a change shows at once."""
    key = f"kefu:sla-counters:{user.pk}"
    if not fresh:
        cached = cache.get(key)
        if isinstance(cached, SlaCounters):
            return cached
    counters = sla_counters(user=user)
    cache.set(key, counters, COUNTERS_TTL_SECONDS)
    return counters


def saved_views_for(*, user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(owner=user).order_by("name")[:50])


# --- the work-order list -------------------------------------------------------------------------------

PAGE_SIZE = 50
COUNT_CAP = 1000  # counting stops here: "1,000+" instead of a COUNT(*) over a million rows


@dataclass
class TicketPage:
    rows: list[Ticket]
    next_cursor: str = ""
    prev_cursor: str = ""
    total: int = 0  # exact when not capped
    capped: bool = False  # more than COUNT_CAP matched
    first: int = 0  # 1-based position of the first row, when known
    extra: dict[str, Any] | None = None


def scoped_tickets(*, user: Any, scope: str) -> Any:
    """The orders in one tab: mine (assignee or first-contact owner), my team's, or all I may see."""
    qs = visible(user, Ticket.objects.all())
    if scope == "mine":
        return qs.filter(Q(assignee_id=user.pk) | Q(first_contact_owner_id=user.pk))
    if scope == "team":
        return qs.filter(team_id=user.team_id) if user.team_id else qs.none()
    return qs


def filter_tickets(qs: Any, *, filters: dict[str, str], user: Any) -> Any:
    status = filters.get("status")
    if status == "open":
        qs = qs.filter(status__in=list(OPEN_STATUSES))
    elif status:
        qs = qs.filter(status=status)
    for param, field in (("type", "ticket_type"), ("priority", "priority"), ("channel", "channel")):
        if filters.get(param):
            qs = qs.filter(**{field: filters[param]})
    if filters.get("sla") == "soon":
        qs = qs.filter(sla_standing=SlaStanding.WARNING)
    elif filters.get("sla") == "breached":
        qs = qs.filter(sla_standing=SlaStanding.BREACHED)
    if filters.get("tier"):
        qs = qs.filter(customer__tier=filters["tier"])
    assignee = filters.get("assignee", "")
    if assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    q = (filters.get("q") or "").strip()
    if q:
        if q.upper().startswith("GD") and q[2:].isdigit():
            qs = qs.filter(number__startswith=q.upper())
        else:
            qs = qs.filter(_search(q))
    return qs


CUSTOMER_MATCH_CAP = 500  # a search naming more customers than this joins instead of listing their ids


def _search(q: str) -> Q:
    """Free-text search: subject, customer name, or the exact order number.

    The customers whose name matches are looked up first, so the order table is filtered by an id list: each
    arm of the OR can then use its own index (on PostgreSQL the subject's trigram index, the customer's key,
    the number) instead of one scan of every order joined to its customer.
    """
    matching = Customer.objects.filter(text_contains("name", q)).values_list("pk", flat=True)
    customer_ids = list(matching[: CUSTOMER_MATCH_CAP + 1])
    by_customer = (
        Q(customer__name__icontains=q) if len(customer_ids) > CUSTOMER_MATCH_CAP else Q(customer_id__in=customer_ids)
    )
    return text_contains("subject", q) | by_customer | Q(number=q)


_CURSOR_FORMAT = "%Y%m%d%H%M%S%f"


def _encode(ticket: Ticket) -> str:
    # exact to the microsecond (a float timestamp would round), in UTC
    return f"{ticket.created_at.astimezone(UTC):{_CURSOR_FORMAT}}_{ticket.pk}"


def _decode(cursor: str) -> tuple[Any, int] | None:
    try:
        stamp, pk = cursor.split("_", 1)
        return datetime.strptime(stamp, _CURSOR_FORMAT).replace(tzinfo=UTC), int(pk)
    except (ValueError, OverflowError):
        return None


def ticket_page(qs: Any, *, after: str = "", before: str = "", only: tuple[str, ...] = ()) -> TicketPage:
    """One page of `qs`, newest first, by keyset (created_at, id): constant cost however deep the page.

    The total is counted only up to COUNT_CAP, in a bounded subquery. `only` limits the columns loaded.
    """
    qs = qs.select_related("customer", "assignee")
    if only:
        qs = qs.only(*only)
    newest_first = qs.order_by("-created_at", "-id")
    going_back = False
    page_qs = newest_first
    position = _decode(after) if after else None
    back_position = _decode(before) if before and not after else None
    if position:
        at, pk = position
        page_qs = newest_first.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    elif back_position:
        at, pk = back_position
        going_back = True
        page_qs = qs.order_by("created_at", "id").filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=pk))
    rows = list(page_qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if going_back:
        rows.reverse()
    page = TicketPage(rows=rows)
    # forward: a next page exists if we fetched one extra; a previous page exists if we came from a cursor
    if going_back:
        page.next_cursor = _encode(rows[-1]) if rows else ""
        page.prev_cursor = _encode(rows[0]) if rows and more else ""
    else:
        page.next_cursor = _encode(rows[-1]) if rows and more else ""
        page.prev_cursor = _encode(rows[0]) if rows and position else ""
    counted = qs.order_by().values("pk")[: COUNT_CAP + 1].count()
    page.capped = counted > COUNT_CAP
    page.total = min(counted, COUNT_CAP)
    return page
