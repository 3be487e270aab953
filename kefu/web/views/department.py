"""The department queue (部门派单): work dispatched to my department, what is needed on site, acknowledge and
report the result."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.models import Department
from kefu.core.errors import ApplicationError
from kefu.core.policy import has_right, requires, visible
from kefu.customers.permissions import CustomerRight
from kefu.customers.selectors import customer_onsite, customer_onsite_cards
from kefu.tickets import services
from kefu.tickets.choices import DispatchStatus
from kefu.tickets.models import Dispatch, Ticket
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import dispatch_queue
from kefu.web import forms
from kefu.web.views.common import application_error_status, error_fragment, form_errors_text, is_htmx
from kefu.web.views.tickets import _after_action, _refused

QUEUE_TABS = [
    ("open", gettext_lazy("待处理")),
    (DispatchStatus.PENDING.value, DispatchStatus.PENDING.label),
    (DispatchStatus.ACKNOWLEDGED.value, DispatchStatus.ACKNOWLEDGED.label),
    ("overdue", gettext_lazy("已逾期")),
    (DispatchStatus.DONE.value, DispatchStatus.DONE.label),
]
QUEUE_LIMIT = 200
ROW_RELATED = ("ticket", "department", "dispatched_by", "acknowledged_by", "completed_by")


def with_onsite(user: Any, rows: list[Dispatch]) -> list[Dispatch]:
    """Each row gets `onsite` (the customer's name, masked phone and address, or None) and `can_handle`."""
    cards = customer_onsite_cards(user, [r.ticket.customer_id for r in rows if r.ticket.customer_id])
    for row in rows:
        row.onsite = cards.get(row.ticket.customer_id or 0)  # type: ignore[attr-defined]
        row.can_handle = True  # type: ignore[attr-defined]
    return rows


@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
@require_GET
def department_queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    tab = request.GET.get("tab", "open")
    if tab not in dict(QUEUE_TABS):
        tab = "open"
    departments = []
    if not has_right(user, TicketRight.DISPATCH_VIEW_ANY):
        department_id = user.department_id or -1  # a department user without a department sees an empty queue
    else:  # managers and admins look at any department's queue
        departments = list(Department.objects.filter(is_service_center=False).order_by("name"))
        raw = request.GET.get("department", "")
        department_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
    rows = list(dispatch_queue(user, department_id, tab).select_related(*ROW_RELATED)[:QUEUE_LIMIT])
    return render(
        request,
        "web/department/queue.html",
        {
            "nav": "department",
            "rows": with_onsite(user, rows),
            "tab": tab,
            "tabs": QUEUE_TABS,
            "departments": departments,
            "department_id": department_id,
            "result_form": forms.DispatchResultForm(),
        },
    )


def _dispatch_or_404(request: HttpRequest, dispatch_id: int) -> Dispatch:
    dispatch = Dispatch.objects.select_related("ticket", "department").filter(pk=dispatch_id).first()
    if (
        dispatch is None
        or not visible(request.user, Ticket.objects.filter(pk=dispatch.ticket_id)).exists()
    ):
        raise Http404
    return dispatch


@requires(CustomerRight.VIEW_ONSITE)
@require_POST
def dispatch_onsite(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    """The explicit "show" of the customer's full phone on a dispatched order: one audit row."""
    dispatch = _dispatch_or_404(request, dispatch_id)
    if dispatch.ticket.customer_id is None:
        raise Http404
    card = customer_onsite(
        request.user,
        dispatch.ticket.customer_id,
        reveal=True,
        ip=request.META.get("REMOTE_ADDR"),
        reason={"dispatch_id": dispatch.pk, "ticket_id": dispatch.ticket_id},
    )
    return render(request, "web/department/_onsite.html", {"onsite": card, "dispatch_id": dispatch.pk})


def _done(request: HttpRequest, dispatch: Dispatch, flash: str) -> HttpResponse:
    if request.POST.get("from") == "detail":
        return _after_action(request, dispatch.ticket_id, flash)
    if is_htmx(request):
        dispatch = Dispatch.objects.select_related(*ROW_RELATED).get(pk=dispatch.pk)
        with_onsite(request.user, [dispatch])
        response = render(
            request,
            "web/department/_row.html",
            {"row": dispatch, "flash": flash, "result_form": forms.DispatchResultForm()},
        )
        response["HX-Trigger"] = "kefu:changed"
        return response
    messages.success(request, flash)
    return redirect("web:department_queue")


def _failed(request: HttpRequest, dispatch: Dispatch, message: str, status: int = 422) -> HttpResponse:
    if request.POST.get("from") == "detail":
        return _refused(request, dispatch.ticket_id, f"dispatch-{dispatch.pk}", message, status)
    if is_htmx(request):
        return error_fragment(request, target=f"#err-dispatch-{dispatch.pk}", message=message, status=status)
    messages.error(request, message)
    return redirect("web:department_queue")


@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
@require_POST
def dispatch_acknowledge(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _dispatch_or_404(request, dispatch_id)
    try:
        services.dispatch_acknowledge(actor=request.user, dispatch=dispatch)
    except ApplicationError as error:
        return _failed(request, dispatch, error.message, application_error_status(error))
    return _done(request, dispatch, _("已接单"))


@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
@require_POST
def dispatch_complete(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _dispatch_or_404(request, dispatch_id)
    form = forms.DispatchResultForm(request.POST)
    if not form.is_valid():
        return _failed(request, dispatch, form_errors_text(form))
    try:
        services.dispatch_complete(actor=request.user, dispatch=dispatch, result=form.cleaned_data["result"])
    except ApplicationError as error:
        return _failed(request, dispatch, error.message, application_error_status(error))
    return _done(request, dispatch, _("已反馈处理结果"))
