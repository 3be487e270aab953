"""The home dashboard (my open orders, due soon, breached, team workload, 30-day chart) and live counters."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kefu.core.policy import AUTHENTICATED, has_right, requires, visible
from kefu.tickets.choices import OPEN_STATUSES, SlaStanding
from kefu.tickets.models import Ticket
from kefu.tickets.permissions import TicketRight
from kefu.web.selectors import sla_counters_cached

CHART_DAYS = 30


def _chart(user, tz):  # type: ignore[no-untyped-def]
    """Orders created per day over the last 30 days in the user's scope (team, or all for supervisors)."""
    today = timezone.localdate()
    start = today - timedelta(days=CHART_DAYS - 1)
    qs = visible(user, Ticket.objects.all())
    if not has_right(user, TicketRight.VIEW_ALL) and user.team_id:
        qs = qs.filter(team_id=user.team_id)
    since = timezone.make_aware(timezone.datetime.combine(start, timezone.datetime.min.time()))
    rows = (
        qs.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    days = [start + timedelta(days=i) for i in range(CHART_DAYS)]
    return {"labels": [d.strftime("%m-%d") for d in days], "values": [counts.get(d, 0) for d in days]}


@requires(AUTHENTICATED)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not has_right(user, TicketRight.WORKSPACE):
        return redirect("web:department_queue")
    open_q = Q(status__in=list(OPEN_STATUSES))
    mine = (
        visible(user, Ticket.objects.all())
        .filter(open_q)
        .filter(Q(assignee_id=user.pk) | Q(first_contact_owner_id=user.pk))
    )
    mine_counts = mine.aggregate(
        open=Count("pk"),
        warning=Count("pk", filter=Q(sla_standing=SlaStanding.WARNING)),
        breached=Count("pk", filter=Q(sla_standing=SlaStanding.BREACHED)),
    )
    supervisor = has_right(user, TicketRight.VIEW_ALL) and not user.team_id
    # supervisors without a team of their own watch the whole floor
    watched = visible(user, Ticket.objects.all()).filter(open_q) if supervisor else mine
    urgent = list(
        watched.filter(sla_due_at__isnull=False).select_related("customer").order_by("sla_due_at")[:8]
    )
    workload = []
    load = {"open": Count("pk"), "breached": Count("pk", filter=Q(sla_standing=SlaStanding.BREACHED))}
    if user.team_id:
        rows = (
            visible(user, Ticket.objects.all())
            .filter(open_q, team_id=user.team_id, assignee__isnull=False)
            .values("assignee__display_name", "assignee__username")
            .annotate(**load)
        )
        workload = [
            {
                "name": r["assignee__display_name"] or r["assignee__username"],
                "open": r["open"],
                "breached": r["breached"],
            }
            for r in rows.order_by("-open")[:12]
        ]
    elif supervisor:
        rows = watched.filter(team__isnull=False).values("team__name").annotate(**load)
        workload = [
            {"name": r["team__name"], "open": r["open"], "breached": r["breached"]}
            for r in rows.order_by("-open")[:12]
        ]
    chart = _chart(user, timezone.get_current_timezone())
    return render(
        request,
        "web/dashboard/home.html",
        {
            "nav": "home",
            "mine_counts": mine_counts,
            "supervisor": supervisor,
            "urgent": urgent,
            "workload": workload,
            "chart": chart,
            "chart_total": sum(chart["values"]),
        },
    )


@requires(AUTHENTICATED)
@require_GET
def counters(request: HttpRequest) -> HttpResponse:
    return render(request, "web/_counters.html", {"sla_counters": sla_counters_cached(user=request.user, fresh=True)})
