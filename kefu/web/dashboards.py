"""The home page of each kind of person, read from kefu.tickets.selectors: every figure is counted with the list
filter it links to, so a figure and its list always agree.

- agents: their own work (open, due soon, breached, the most urgent orders);
- team leads (`ticket.supervise_team`): their team by agent, unassigned orders;
- those who see every order (`ticket.view_all`: shift leads, QA, managers, admins): the whole centre, by team
  and by category, work waiting on departments, today's created and resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.accounts.models import Team, User
from kefu.core.policy import has_right
from kefu.tickets.models import Category
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import (
    OPEN,
    TicketFilter,
    count_by,
    count_many,
    filter_tickets,
    list_queryset,
    list_url,
    most_urgent,
    scope_key,
    todays_bounds,
    urgency_order,
    view_scope,
)
from kefu.web.ticket_list import ticket_rows

CHART_DAYS = 30
PAST_DAYS_TTL_SECONDS = 600


@dataclass(frozen=True)
class Figure:
    key: str  # "open", "due_soon", …: the test id and the live-update name
    label: str
    value: int
    url: str
    tone: str = ""  # "", "warn", "bad"
    icon: str = "inbox"


@dataclass
class Home:
    kind: str  # "agent", "team", "centre"
    title: str
    figures: list[Figure]
    urgent: list[dict[str, Any]]
    urgent_url: str
    breakdowns: list[dict[str, Any]] = field(default_factory=list)  # tables: by agent, by team, by category
    unassigned: list[dict[str, Any]] = field(default_factory=list)
    unassigned_url: str = ""
    charts: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def home_for(user: Any, *, now: datetime | None = None) -> Home:
    """The home page of `user`, decided by rights."""
    if has_right(user, TicketRight.VIEW_ALL):
        return centre_home(user, now=now)
    if has_right(user, TicketRight.SUPERVISE_TEAM) and user.team_id:
        return team_home(user, now=now)
    return agent_home(user, now=now)


Extra = dict[str, tuple[TicketFilter, str, str, str]]  # key → (filter, label, tone when not zero, icon)


def _sla_figures(user: Any, base: TicketFilter, now: datetime | None, *, extra: Extra | None = None) -> list[Figure]:
    named = {"open": base, "due_soon": base.with_(sla="due_soon"), "breached": base.with_(sla="breached")}
    for key, (f, *_rest) in (extra or {}).items():
        named[key] = f
    counts = count_many(user, named, now=now)
    figures = [
        Figure("open", _("未完结"), counts["open"], list_url(base), "", "inbox"),
        Figure("due_soon", _("即将超时"), counts["due_soon"], list_url(named["due_soon"]),
               "warn" if counts["due_soon"] else "", "clock"),
        Figure("breached", _("已超时"), counts["breached"], list_url(named["breached"]),
               "bad" if counts["breached"] else "", "alert"),
    ]
    for key, (f, label, tone, icon) in (extra or {}).items():
        figures.append(Figure(key, label, counts[key], list_url(f), tone if counts[key] else "", icon))
    return figures


def _per_day(qs: Any, field: str, since: datetime, until: datetime | None = None) -> dict[Any, int]:
    zone = timezone.get_current_timezone()
    rows = qs.filter(**{f"{field}__gte": since})
    if until is not None:
        rows = rows.filter(**{f"{field}__lt": until})
    return dict(rows.annotate(day=TruncDate(field, tzinfo=zone)).order_by().values("day")
                .annotate(n=Count("*")).values_list("day", "n"))


def _daily_chart(user: Any, base: TicketFilter, now: datetime | None) -> dict[str, Any]:
    """Orders created and resolved per day over the last CHART_DAYS days, in the view of `base`; each day's bar
    links to that day's list.

    The days before today no longer change: they are kept for PAST_DAYS_TTL_SECONDS per scope (everyone who
    watches the same scope shares them); today is counted on every request."""
    today = timezone.localdate(now or timezone.now())
    start_day = today - timedelta(days=CHART_DAYS - 1)
    today_start, _end = todays_bounds(now)
    start = today_start - timedelta(days=CHART_DAYS - 1)
    scope = view_scope(base.view, user)
    scoped = filter_tickets(user, TicketFilter(view=base.view))
    zone = timezone.get_current_timezone_name()
    key = f"kefu:daily-chart:{scope_key(scope) if scope else 'none'}:{today.isoformat()}:{zone}"
    past = cache.get(key)
    if not isinstance(past, dict):
        past = {"created": _per_day(scoped, "created_at", start, today_start),
                "resolved": _per_day(scoped, "resolved_at", start, today_start)}
        cache.set(key, past, PAST_DAYS_TTL_SECONDS)
    created = {**past["created"], **_per_day(scoped, "created_at", today_start)}
    resolved = {**past["resolved"], **_per_day(scoped, "resolved_at", today_start)}
    days = [start_day + timedelta(days=i) for i in range(CHART_DAYS)]
    links = []
    for day in days:
        begin = timezone.make_aware(datetime.combine(day, datetime.min.time()))
        links.append(list_url(TicketFilter(view=base.view, created_from=begin, created_to=begin + timedelta(days=1))))
    return {
        "labels": [d.strftime("%m-%d") for d in days],
        "created": [created.get(d, 0) for d in days],
        "resolved": [resolved.get(d, 0) for d in days],
        "links": links,
        "series": [_("当日新建"), _("当日解决")],
    }


def agent_home(user: Any, *, now: datetime | None = None) -> Home:
    mine = TicketFilter(view="mine", statuses=(OPEN,))
    figures = _sla_figures(user, mine, now)
    urgent = ticket_rows(most_urgent(user, mine))
    chart = _daily_chart(user, mine, now)
    return Home(kind="agent", title=_("我的工作"), figures=figures, urgent=urgent, urgent_url=list_url(mine),
                charts={"daily": chart})


def team_home(user: Any, *, now: datetime | None = None) -> Home:
    team_open = TicketFilter(view="team", statuses=(OPEN,))
    unassigned = team_open.with_(assignee="none")
    figures = _sla_figures(user, team_open, now, extra={
        "unassigned": (unassigned, _("未分配"), "warn", "users"),
    })
    by_agent = {row["assignee_id"]: row for row in count_by(
        user, team_open, "assignee",
        figures={"due_soon": team_open.with_(sla="due_soon"), "breached": team_open.with_(sla="breached")},
        limit=100,
    )}
    members = list(User.objects.filter(team_id=user.team_id, is_active=True).order_by("display_name", "username")
                   .only("id", "username", "display_name", "first_name", "last_name"))
    known = {m.pk for m in members}
    others = [pk for pk in by_agent if pk is not None and pk not in known]
    if others:
        members += list(User.objects.filter(pk__in=others).only("id", "username", "display_name", "first_name",
                                                                 "last_name"))
    rows = []
    for member in members:
        counts = by_agent.get(member.pk, {})
        mine = team_open.with_(assignee=str(member.pk))
        rows.append({
            "name": str(member),
            "open": counts.get("n", 0), "open_url": list_url(mine),
            "due_soon": counts.get("due_soon", 0), "due_soon_url": list_url(mine.with_(sla="due_soon")),
            "breached": counts.get("breached", 0), "breached_url": list_url(mine.with_(sla="breached")),
        })
    rows.sort(key=lambda r: (-r["breached"], -r["open"], r["name"]))
    urgent = ticket_rows(most_urgent(user, team_open))
    waiting = ticket_rows(list(list_queryset(urgency_order(filter_tickets(user, unassigned)))[:8]))
    team = Team.objects.filter(pk=user.team_id).only("name").first()
    return Home(
        kind="team", title=_("%(team)s的工作") % {"team": team.name if team else ""}, figures=figures,
        urgent=urgent, urgent_url=list_url(team_open),
        breakdowns=[{"key": "by-agent", "title": _("按座席"), "label": _("座席"), "rows": rows}],
        unassigned=waiting, unassigned_url=list_url(unassigned),
        charts={"agents": {"labels": [r["name"] for r in rows], "open": [r["open"] for r in rows],
                           "breached": [r["breached"] for r in rows], "links": [r["open_url"] for r in rows],
                           "series": [_("未完结"), _("已超时")]},
                "daily": _daily_chart(user, team_open, now)},
    )


def _grouped(user: Any, base: TicketFilter, group: str, model: type, label: Any) -> list[dict[str, Any]]:
    counted = count_by(user, base, group,
                       figures={"due_soon": base.with_(sla="due_soon"), "breached": base.with_(sla="breached")})
    ids = [r[f"{group}_id"] for r in counted if r[f"{group}_id"] is not None]
    names = {obj.pk: label(obj) for obj in model._default_manager.filter(pk__in=ids)}  # type: ignore[attr-defined]
    rows = []
    for r in counted:
        pk = r[f"{group}_id"]
        if pk is None:
            continue
        f = base.with_(**{group: pk})
        rows.append({
            "name": names.get(pk, "—"),
            "open": r["n"], "open_url": list_url(f),
            "due_soon": r["due_soon"], "due_soon_url": list_url(f.with_(sla="due_soon")),
            "breached": r["breached"], "breached_url": list_url(f.with_(sla="breached")),
        })
    return rows


def _category_label(category: Category) -> str:
    from django.utils.translation import get_language

    if (get_language() or "").startswith("en") and category.name_en:
        return category.name_en
    return category.name


def centre_home(user: Any, *, now: datetime | None = None) -> Home:
    centre = TicketFilter(view="all", statuses=(OPEN,))
    start, end = todays_bounds(now)
    figures = _sla_figures(user, centre, now, extra={
        "waiting_department": (centre.with_(dispatch="open"), _("等待部门"), "", "truck"),
        "dispatch_overdue": (centre.with_(dispatch="overdue"), _("派单逾期"), "bad", "alert"),
        "created_today": (TicketFilter(view="all", created_from=start, created_to=end), _("今日新建"), "", "plus"),
        "resolved_today": (TicketFilter(view="all", resolved_from=start, resolved_to=end), _("今日解决"), "",
                           "chart"),
    })
    by_team = _grouped(user, centre, "team", Team, lambda t: t.name)
    by_category = _grouped(user, centre, "category", Category, _category_label)
    urgent = ticket_rows(most_urgent(user, centre))
    return Home(
        kind="centre", title=_("全中心"), figures=figures, urgent=urgent, urgent_url=list_url(centre),
        breakdowns=[
            {"key": "by-team", "title": _("按班组"), "label": _("班组"), "rows": by_team},
            {"key": "by-category", "title": _("按分类"), "label": _("分类"), "rows": by_category},
        ],
        charts={
            "teams": {"labels": [r["name"] for r in by_team], "open": [r["open"] for r in by_team],
                      "breached": [r["breached"] for r in by_team], "links": [r["open_url"] for r in by_team],
                      "series": [_("未完结"), _("已超时")]},
            "daily": _daily_chart(user, centre, now),
        },
    )
