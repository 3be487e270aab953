"""The agent's desktop (我的工作台): the state switch of the page header, the offer pop-up with 接受 / 拒绝 (on every
page) and the desk page — own state, today's figures, the open offer, the contacts in hand, the queues that reach
the agent. Live: desk.js asks for the parts again when an event for the agent or their queues arrives.

Every write goes through routing's services; a refusal (an offer that rang out or was withdrawn meanwhile, a
state the agent may not choose) is answered with the part and its message, never an error page."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ApplicationError, Conflict
from kefu.core.policy import requires
from kefu.routing.choices import QueueKind
from kefu.routing.permissions import RoutingRight
from kefu.routing.services import StateChange, agent_state_set, offer_accept, offer_decline
from kefu.web import desk as reads
from kefu.web.views.common import is_htmx

NOTE_MAX = 200
OUTCOME_MESSAGES = {
    "offer_timeout": gettext_lazy("这个分配已超时，联络已回到队列"),
    "offer_withdrawn": gettext_lazy("这个分配已撤回：客户已挂断或离开，或已由他人接待"),
    "offer_accepted": gettext_lazy("这个分配已经接受过了"),
    "offer_declined": gettext_lazy("这个分配已经拒绝过了"),
}


@requires(RoutingRight.CONTACT_TAKE)
@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    context = reads.desk_context(request.user, timezone.now())
    context["nav"] = "desk"
    if is_htmx(request):
        return render(request, "web/desk/_body.html", context)
    return render(request, "web/desk/page.html", context)


def _state_part(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(request, "web/desk/_state.html",
                  {"state": reads.state_view(request.user, timezone.now()), "error": error}, status=status)


@requires(RoutingRight.STATE_OWN)
@require_http_methods(["GET", "POST"])
def desk_state(request: HttpRequest) -> HttpResponse:
    """The header's state switch; a POST (`state`, optional `note`) sets the agent's own state."""
    if request.method == "GET":
        return _state_part(request)
    state = request.POST.get("state", "")
    note = request.POST.get("note", "").strip()
    error = ""
    if state not in {str(s) for s in reads.CHOOSABLE}:
        error = _("状态：请选择空闲、小休、用餐、培训、会议或离线")
    elif len(note) > NOTE_MAX:
        error = _("原因：不能超过 %(n)s 个字符") % {"n": NOTE_MAX}
    else:
        try:
            agent_state_set(actor=request.user, user=request.user, change=StateChange(state=state, note=note))
        except ApplicationError as refused:
            error = refused.message
    if not is_htmx(request):
        if error:
            messages.error(request, error)
        return redirect(_back(request))
    return _state_part(request, error=error, status=422 if error else 200)


def _back(request: HttpRequest) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.headers.get("Referer", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("web:desk")


def _offer_part(request: HttpRequest, *, notice: str = "", status: int = 200,
                trigger: dict[str, Any] | None = None) -> HttpResponse:
    response = render(request, "web/desk/_offer.html",
                      {"offer": reads.offer_view(request.user, timezone.now()), "notice": notice}, status=status)
    if trigger:  # dispatched on <body>: the card that asked may be gone by then (its offer_closed event)
        response["HX-Trigger"] = json.dumps({name: {**(detail or {}), "target": "body"}
                                             for name, detail in trigger.items()})
    return response


@requires(RoutingRight.CONTACT_TAKE)
@require_GET
def desk_offer(request: HttpRequest) -> HttpResponse:
    """The offer card (on every page of an agent who takes routed contacts): the open offer, or nothing."""
    return _offer_part(request)


def _refused(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    code = error.code if isinstance(error, Conflict) else ""
    notice = str(OUTCOME_MESSAGES.get(code, "")) or (
        _("这个分配已不存在") if error.status == 404 else error.message)
    if not is_htmx(request):
        messages.warning(request, notice)
        return redirect("web:desk")
    return _offer_part(request, notice=notice, status=409, trigger={"kefu:desk": None})


def _opened_at(contact: Any) -> str | None:
    """Where the agent goes after accepting: a chat's conversation, a work order."""
    kind, _sep, key = contact.ref.partition(":")
    if kind == "conversation" and key.isdigit():
        return reverse("web:conversation_detail", kwargs={"conversation_id": int(key)})
    if kind == "ticket" and key.isdigit():
        return reverse("web:ticket_detail", kwargs={"ticket_id": int(key)})
    return None


def _call_pk(contact: Any) -> int | None:
    from kefu.telephony.models import Call

    kind, _sep, key = contact.ref.partition(":")
    if contact.kind != QueueKind.PHONE or kind != "call":
        return None
    return Call.objects.filter(call_id=key).values_list("pk", flat=True).first()


@requires(RoutingRight.CONTACT_TAKE)
@require_POST
def desk_offer_accept(request: HttpRequest, offer_id: int) -> HttpResponse:
    """接受: a chat or a work order opens at once; a call pops the caller's card (the screen pop)."""
    try:
        contact = offer_accept(actor=request.user, offer_id=offer_id)
    except ApplicationError as error:
        return _refused(request, error)
    target = _opened_at(contact)
    if not is_htmx(request):
        return redirect(target or reverse("web:desk"))
    if target:
        response = HttpResponse("")
        response["HX-Redirect"] = target
        return response
    call_pk = _call_pk(contact)
    trigger: dict[str, Any] = {"kefu:desk": None}
    if call_pk:
        trigger["kefu:call-pop"] = {"call": call_pk}
    return _offer_part(request, notice=_("已接受，客户信息已弹出"), trigger=trigger)


@requires(RoutingRight.CONTACT_TAKE)
@require_POST
def desk_offer_decline(request: HttpRequest, offer_id: int) -> HttpResponse:
    """拒绝: the contact goes back to its place in line for another agent."""
    try:
        offer_decline(actor=request.user, offer_id=offer_id)
    except ApplicationError as error:
        return _refused(request, error)
    if not is_htmx(request):
        return redirect("web:desk")
    return _offer_part(request, notice=_("已拒绝，联络已回到队列"), trigger={"kefu:desk": None})
