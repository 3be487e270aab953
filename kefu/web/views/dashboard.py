"""The home page of each kind of person (kefu.web.dashboards) and the header's live counters."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from kefu.core.policy import AUTHENTICATED, has_right, requires
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import counters_for
from kefu.web.dashboards import home_for


@requires(AUTHENTICATED)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not has_right(user, TicketRight.WORKSPACE):
        return redirect("web:department_queue")
    page = home_for(user)
    return render(request, "web/dashboard/home.html", {"nav": "home", "home": page})


@requires(AUTHENTICATED)
@require_GET
def counters(request: HttpRequest) -> HttpResponse:
    """The header's counters, recounted (the live update after a change asks for them)."""
    return render(request, "web/_counters.html", {"header_counters": counters_for(request.user, fresh=True)})
