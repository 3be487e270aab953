"""The department queue (部门派单): work dispatched to my department, acknowledge and report the result."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.models import Department
from kefu.core.errors import ApplicationError
from kefu.core.policy import has_right, requires, visible
from kefu.tickets import services
from kefu.tickets.choices import DispatchStatus
from kefu.tickets.models import Dispatch, Ticket
from kefu.tickets.permissions import TicketRight
from kefu.web import forms
from kefu.web.views.common import application_error_status, error_fragment, form_errors_text, is_htmx
from kefu.web.views.tickets import _after_action, _refused

QUEUE_TABS = [
    ("open", gettext_lazy("待处理")),
    (DispatchStatus.PENDING.value, DispatchStatus.PENDING.label),
    (DispatchStatus.ACKNOWLEDGED.value, DispatchStatus.ACKNOWLEDGED.label),
    (DispatchStatus.DONE.value, DispatchStatus.DONE.label),
]


def _queue(request: HttpRequest, department_id: int | None, tab: str):  # type: ignore[no-untyped-def]
    qs = Dispatch.objects.select_related(
        "ticket", "department", "dispatched_by", "acknowledged_by", "completed_by"
    )
    qs = qs.filter(ticket__in=visible(request.user, Ticket.objects.all()).values("pk"))
    if department_id:
        qs = qs.filter(department_id=department_id)
    if tab == "open":
        qs = qs.filter(status__in=[DispatchStatus.PENDING, DispatchStatus.ACKNOWLEDGED]).order_by(
            "status", "due_at", "dispatched_at"
        )
    else:
        qs = qs.filter(status=tab).order_by("-dispatched_at")
    return qs


@requires(TicketRight.DISPATCH_ACKNOWLEDGE)
@require_GET
def department_queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    tab = request.GET.get("tab", "open")
    if tab not in dict(QUEUE_TABS):
        tab = "open"
    departments = []
    if not has_right(user, TicketRight.DISPATCH_VIEW_ANY):
        department_id = user.department_id
        if department_id is None:
            department_id = -1  # a department user without a department sees an empty queue
    else:  # managers and admins look at any department's queue
        departments = list(Department.objects.filter(is_service_center=False).order_by("name"))
        raw = request.GET.get("department", "")
        department_id = int(raw) if raw.isdigit() else None
    rows = list(_queue(request, department_id, tab)[:200])
    for row in rows:
        row.can_handle = True  # type: ignore[attr-defined]
    return render(
        request,
        "web/department/queue.html",
        {
            "nav": "department",
            "rows": rows,
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


def _done(request: HttpRequest, dispatch: Dispatch, flash: str) -> HttpResponse:
    if request.POST.get("from") == "detail":
        return _after_action(request, dispatch.ticket_id, flash)
    if is_htmx(request):
        dispatch = Dispatch.objects.select_related(
            "ticket", "department", "dispatched_by", "acknowledged_by", "completed_by"
        ).get(pk=dispatch.pk)
        dispatch.can_handle = True  # type: ignore[attr-defined]
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
