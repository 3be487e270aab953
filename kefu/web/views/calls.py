"""Calls in the workspace: the screen pop (来电弹屏) — the card the ringing agent's page opens for the caller — and
the commands out to the PBX: 拨打 beside a customer's phone numbers, 转接 on the pop of an answered call."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.core.errors import ApplicationError, NotFound, PermissionDenied
from kefu.core.masking import mask_phone
from kefu.core.policy import has_right, may_see, requires, visible
from kefu.customers import selectors as customer_selectors
from kefu.customers.choices import ContactKind
from kefu.customers.models import ContactPoint, Customer
from kefu.telephony import commands
from kefu.telephony.models import Call
from kefu.telephony.permissions import TelephonyRight
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import customer_ticket_history
from kefu.web import inbox
from kefu.web.views.customers import ticket_rows_for_history

OPEN_ORDERS = 3


@requires(TelephonyRight.VIEW)
@require_GET
def call_pop(request: HttpRequest, call_id: int) -> HttpResponse:
    """The caller's card: the customers the number belongs to (VIPs first) with their open orders, or an
    unknown caller with a new-customer link; an order can be made from the call in one step."""
    call = visible(request.user, Call.objects.select_related("queue", "conversation__channel",
                                                            "conversation__ticket")).filter(pk=call_id).first()
    if call is None:
        raise Http404
    # the call's conversation (made once it is answered): its order in one step, or the order made already
    conversation = call.conversation if call.conversation_id and may_see(request.user, call.conversation) else None
    conversation_act = inbox.actions_for(request.user, conversation) if conversation is not None else {}
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
        "conversation": conversation, "conversation_ticket": conversation_act.get("ticket", False),
        "can_transfer": commands.transfer_available(request.user, call),
    })


def _result(request: HttpRequest, message: str, *, ok: bool, status: int = 200) -> HttpResponse:
    return render(request, "web/calls/_command_result.html", {"message": message, "ok": ok}, status=status)


def _refused(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    if isinstance(error, NotFound):
        raise Http404
    if isinstance(error, PermissionDenied):
        return HttpResponse(status=403)
    return _result(request, error.message, ok=False, status=409 if error.status == 409 else 422)


@requires(TelephonyRight.DIAL)
@require_POST
def customer_dial(request: HttpRequest, customer_id: int) -> HttpResponse:
    """拨打: the agent's phone rings, then the customer's number (`contact`: one of their phone contacts, which
    the agent may not see in full). The answer is the line shown beside the numbers."""
    customer = visible(request.user, Customer.objects.filter(merged_into__isnull=True)).filter(pk=customer_id).first()
    if customer is None:
        raise Http404
    contact_id = request.POST.get("contact", "")
    contact = ContactPoint.objects.filter(pk=int(contact_id), customer=customer, kind=ContactKind.PHONE).first() \
        if contact_id.isdigit() and len(contact_id) < 12 else None
    if contact is None:
        return _result(request, _("请选择这位客户的一个电话号码"), ok=False, status=422)
    try:
        dialled = commands.call_dial(actor=request.user, number=contact.value, customer=customer)
    except ApplicationError as error:
        return _refused(request, error)
    return _result(request, _("正在呼叫您的分机 %(e)s，接起后将拨打 %(n)s") % {
        "e": dialled.extension, "n": mask_phone(dialled.number)}, ok=True)


@requires(TelephonyRight.TRANSFER)
@require_POST
def call_transfer(request: HttpRequest, call_id: int) -> HttpResponse:
    """转接 from the screen pop: the caller goes to an extension, a number or a queue; the agent's leg ends."""
    call = visible(request.user, Call.objects.select_related("queue")).filter(pk=call_id).first()
    if call is None:
        raise Http404
    try:
        done = commands.call_transfer(actor=request.user, call=call, to=request.POST.get("to", "")[:40])
    except ApplicationError as error:
        return _refused(request, error)
    return _result(request, _("已转接到 %(to)s") % {"to": done.to}, ok=True)
