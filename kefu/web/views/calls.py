"""Calls in the workspace: the screen pop (来电弹屏) — the card the ringing agent's page opens for the caller."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kefu.core.policy import has_right, requires, visible
from kefu.customers import selectors as customer_selectors
from kefu.telephony.models import Call
from kefu.telephony.permissions import TelephonyRight
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import customer_ticket_history
from kefu.web.views.customers import ticket_rows_for_history

OPEN_ORDERS = 3


@requires(TelephonyRight.VIEW)
@require_GET
def call_pop(request: HttpRequest, call_id: int) -> HttpResponse:
    """The caller's card: the customers the number belongs to (VIPs first) with their open orders, or an
    unknown caller with a new-customer link; an order can be made from the call in one step."""
    call = visible(request.user, Call.objects.select_related("queue")).filter(pk=call_id).first()
    if call is None:
        raise Http404
    matches = list(customer_selectors.customer_find_by_contact(request.user, call.caller, kind="phone")[:3]) \
        if call.caller else []
    customer: Any = matches[0] if matches else None
    orders: list[dict[str, Any]] = []
    if customer is not None:
        history = ticket_rows_for_history(customer_ticket_history(request.user, customer.pk, limit=20))
        orders = [o for o in history if o["status"] not in ("resolved", "closed")][:OPEN_ORDERS]
    return render(request, "web/calls/_pop.html", {
        "call": call, "customer": customer, "others": matches[1:], "orders": orders,
        "can_create": has_right(request.user, TicketRight.CREATE),
    })
